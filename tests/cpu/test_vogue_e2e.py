"""The VOGUE trainer end to end on the CPU backend (paper preset: full-vocabulary KL through the
worker's paired method), then resumed; shaping is re-checked offline from the run's audit files."""

import math
import os
from collections import defaultdict

import pytest
import torch

from recipe.vogue.cpu import tiny_run
from recipe.vogue.shaping import shape_advantages

pytestmark = pytest.mark.slow

SCHEDULE_STEPS = 10
VOGUE_METRICS = (
    "p_noi", "probed_frac", "noisy_frac", "u_per_token_mean", "u_per_token_max", "u_per_seq_mean", "u_per_seq_max",
    "entropy_raw_mean", "entropy_noisy_mean", "g_out_mean", "g_per_mean", "g_out_capped_frac", "g_per_capped_frac",
)


def train(work_dir, data_dir, model_dir, steps, log_name):
    audit_dir = os.path.join(work_dir, "audit")
    overrides = [
        "data.train_batch_size=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.save_freq=2",
        "vogue.kl_estimator=full",
        f"vogue.schedule.total_steps={SCHEDULE_STEPS}",
        f"vogue.audit_dir={audit_dir}",
    ]
    metrics_path = os.path.join(work_dir, f"{log_name}.jsonl")
    log_path = os.path.join(work_dir, f"{log_name}.log")
    logged = tiny_run.train("vogue", data_dir, model_dir, work_dir, steps, overrides, metrics_path, log_path, timeout=900)
    with open(log_path) as f:
        output = f.read()
    records = [r for r in logged if "timing_s/step" in r["data"]]
    return records, audit_dir, output


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp("vogue_e2e"))
    data_dir, model_dir = tiny_run.ensure_assets(work_dir, seed=0)
    records, audit_dir, _ = train(work_dir, data_dir, model_dir, steps=2, log_name="first")
    return work_dir, data_dir, model_dir, records, audit_dir


def test_vogue_metrics_exist_and_follow_the_schedule(first_run):
    records = first_run[3]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        for name in VOGUE_METRICS:
            assert math.isfinite(record["data"][f"vogue/{name}"]), (record["step"], name)
        assert record["data"]["vogue/p_noi"] == pytest.approx(1 - (record["step"] - 1) / SCHEDULE_STEPS)
    assert records[0]["data"]["vogue/noisy_frac"] == 1.0  # p_noi(0) = 1: every sample in the noisy branch


def grpo_reference(rewards, uids, eps=1e-6):
    """A_i = (R_i − mean_group) / (std_group + eps), unbiased std, group = responses of one prompt."""
    groups = defaultdict(list)
    for score, uid in zip(rewards.tolist(), uids):
        groups[uid].append(score)
    out = []
    for score, uid in zip(rewards.tolist(), uids):
        members = torch.tensor(groups[uid], dtype=torch.float64)
        out.append((score - members.mean().item()) / (members.std().item() + eps))
    return torch.tensor(out)


def test_advantages_are_grpo_plus_the_core_shaping(first_run):
    audit_dir = first_run[4]
    for step in (1, 2):
        record = torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)
        mask = record["response_mask"].float()
        grpo = grpo_reference(record["token_level_rewards"].sum(-1), record["uid"])[:, None] * mask
        torch.testing.assert_close(record["advantages"].double(), grpo.double(), atol=1e-5, rtol=1e-5)
        settings = record["vogue"]
        expected, _ = shape_advantages(
            grpo.float(), mask, record["entropy"], record["u_per"], record["is_noisy"],
            alpha_out=settings["alpha_out"], beta_out=settings["beta_out"], alpha_per=settings["alpha_per"],
            beta_per=settings["beta_per"], cap_base=settings["cap_base"],
        )
        torch.testing.assert_close(record["shaped"], expected, atol=1e-5, rtol=1e-5)
        assert not torch.equal(record["shaped"], record["advantages"])  # the bonuses did something


def test_u_per_is_positive_on_noisy_branch_samples(first_run):
    record = torch.load(os.path.join(first_run[4], "step_1.pt"), weights_only=False)
    noisy = record["is_noisy"].bool()
    assert noisy.all()
    mask = record["response_mask"].bool()
    per_row = (record["u_per"] * mask).sum(-1)
    assert (per_row[noisy] > 0).all()
    assert (record["u_per"][mask] >= -1e-6).all()  # exact symmetric KL is never negative


def test_resume_continues_the_schedule(first_run):
    work_dir, data_dir, model_dir, _, _ = first_run
    records, audit_dir, output = train(work_dir, data_dir, model_dir, steps=3, log_name="resumed")
    assert "global_step_2" in output
    assert [r["step"] for r in records] == [3]
    assert records[0]["data"]["vogue/p_noi"] == pytest.approx(1 - 2 / SCHEDULE_STEPS)
    assert os.path.exists(os.path.join(audit_dir, "step_3.pt"))
