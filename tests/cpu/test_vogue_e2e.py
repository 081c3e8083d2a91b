"""The VOGUE trainer end to end on the CPU backend with 2 data-parallel ranks (paper preset: full-vocabulary KL through the
worker's paired method) on a mixed text/image copy of the synthetic task, then resumed; shaping is
re-checked offline from the run's audit files, and a second run from scratch must perturb every
response of every step exactly as the first run and the resumed run did."""

import math
import os
from collections import defaultdict

import pytest
import torch

from recipe.vogue.cpu import tiny_run
from recipe.vogue.core.shaping import shape_advantages

pytestmark = pytest.mark.slow

SCHEDULE_STEPS = 10
TEXT_ONLY_EVERY = 3
VOGUE_METRICS = (
    "p_noi", "probed_frac", "noisy_frac", "no_image_frac", "u_per_token_mean", "u_per_token_max", "u_per_seq_mean",
    "u_per_seq_max", "entropy_raw_mean", "entropy_noisy_mean", "g_out_mean", "g_per_mean", "g_out_capped_frac",
    "g_per_capped_frac",
)


def with_text_only_rows(data_dir: str, out_dir: str, every: int = TEXT_ONLY_EVERY) -> str:
    """A copy of the synthetic task where every ``every``-th prompt has no image (verl allows mixed
    text/image batches): the row keeps its question, loses its ``<image>`` placeholder and images."""
    import pandas as pd

    os.makedirs(out_dir, exist_ok=True)
    for split in ("train", "val"):
        frame = pd.read_parquet(os.path.join(data_dir, f"{split}.parquet"))
        for row in range(0, len(frame), every):
            prompt = [dict(message) for message in frame.at[row, "prompt"]]
            prompt[0]["content"] = prompt[0]["content"].replace("<image>", "")
            frame.at[row, "prompt"] = prompt
            frame.at[row, "images"] = []
        frame.to_parquet(os.path.join(out_dir, f"{split}.parquet"))
    return out_dir


def train(work_dir, data_dir, model_dir, steps, log_name):
    audit_dir = os.path.join(work_dir, "audit")
    overrides = [
        *tiny_run.TWO_RANKS,
        "data.train_batch_size=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.save_freq=2",
        "vogue.kl_estimator=full",
        # upscale the 56×56 images to 112×112 (an 8×8 patch grid, 16 image tokens instead of 4)
        f"data.image_min_pixels={112 * 112}",
        f"vogue.schedule.total_steps={SCHEDULE_STEPS}",
        f"vogue.audit_dir={audit_dir}",
    ]
    metrics_path = os.path.join(work_dir, f"{log_name}.jsonl")
    log_path = os.path.join(work_dir, f"{log_name}.log")
    logged = tiny_run.train("vogue", data_dir, model_dir, work_dir, steps, overrides, metrics_path, log_path, timeout=900,
                            extra_env=tiny_run.TWO_RANKS_ENV)
    with open(log_path) as f:
        output = f.read()
    records = [r for r in logged if "timing_s/step" in r["data"]]
    return records, audit_dir, output


def audit(audit_dir, step):
    return torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)


@pytest.fixture(scope="module")
def mixed_data(tiny_assets, tmp_path_factory):
    data_dir, model_dir = tiny_assets
    return with_text_only_rows(data_dir, str(tmp_path_factory.mktemp("mixed_data"))), model_dir


@pytest.fixture(scope="module")
def first_run(mixed_data, tmp_path_factory):
    data_dir, model_dir = mixed_data
    work_dir = str(tmp_path_factory.mktemp("vogue_e2e"))
    records, audit_dir, output = train(work_dir, data_dir, model_dir, steps=2, log_name="first")
    return work_dir, data_dir, model_dir, records, audit_dir, output


@pytest.fixture(scope="module")
def resumed_run(first_run):
    work_dir, data_dir, model_dir, _, _, _ = first_run
    return train(work_dir, data_dir, model_dir, steps=3, log_name="resumed")


@pytest.fixture(scope="module")
def second_run(mixed_data, tmp_path_factory):
    """A rerun from scratch (new Ray cluster, new uuid4 uids, same seeds and data), three steps."""
    data_dir, model_dir = mixed_data
    records, audit_dir, _ = train(str(tmp_path_factory.mktemp("vogue_e2e_again")), data_dir, model_dir, 3, "again")
    return records, audit_dir


def test_vogue_metrics_exist_and_follow_the_schedule(first_run):
    records = first_run[3]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        for name in VOGUE_METRICS:
            assert math.isfinite(record["data"][f"vogue/{name}"]), (record["step"], name)
        assert record["data"]["vogue/p_noi"] == pytest.approx(1 - (record["step"] - 1) / SCHEDULE_STEPS)


def test_a_mixed_text_image_batch_trains_with_text_rows_in_the_raw_branch(first_run):
    _, _, _, records, audit_dir, output = first_run
    assert "have no image; they train as raw-branch rows" in output
    for record in records:
        step = record["step"]
        has_image = audit(audit_dir, step)["has_image"]
        assert record["data"]["vogue/no_image_frac"] == pytest.approx(1 - has_image.float().mean().item())
    first = audit(audit_dir, 1)
    # p_noi(0) = 1: every row with an image is in the noisy branch, every text-only row is not
    assert torch.equal(first["is_noisy"], first["has_image"])
    assert any((~audit(audit_dir, step)["has_image"]).any() for step in (1, 2))  # the batches were mixed


def test_pixel_limits_reach_the_rollout_and_the_actor(first_run):
    """data.image_min_pixels reaches every consumer through recipe/vogue/trainer/dataset.py: the actor's
    multi_modal_inputs (an 8×8 grid) and the rollout's prompt ids (16 image tokens); the run trained."""
    record = audit(first_run[4], 1)
    for row, grid in enumerate(record["image_grid_thw"]):
        if record["has_image"][row]:
            assert grid.tolist() == [[1, 8, 8]]
            assert int(record["prompt_image_tokens"][row]) == 16
        else:
            assert int(record["prompt_image_tokens"][row]) == 0


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
    """Holds for every rollout draw: the audited advantages are brute-force GRPO, the shaped ones are the core
    shaping of them, rows with A = 0 (all-correct or all-wrong groups) are left exactly as they are, and rows
    with A ≠ 0 get a positive entropy bonus wherever the entropy is positive."""
    audit_dir = first_run[4]
    for step in (1, 2):
        record = audit(audit_dir, step)
        mask = record["response_mask"].float()
        grpo = grpo_reference(record["token_level_rewards"].sum(-1), record["uid"])[:, None] * mask
        torch.testing.assert_close(record["advantages"].double(), grpo.double(), atol=1e-5, rtol=1e-5)
        settings = record["vogue"]
        rewards = record["token_level_rewards"].sum(-1)
        tied = torch.tensor([len({rewards[j].item() for j, other in enumerate(record["uid"]) if other == uid}) == 1
                             for uid in record["uid"]])  # groups whose rewards are all equal
        assert torch.equal(record["tied"], tied)
        expected, _ = shape_advantages(
            grpo.float(), mask, record["entropy"], record["u_per"], record["is_noisy"],
            alpha_out=settings["alpha_out"], beta_out=settings["beta_out"], alpha_per=settings["alpha_per"],
            beta_per=settings["beta_per"], cap_base=settings["cap_base"], tied=tied,
        )
        torch.testing.assert_close(record["shaped"], expected, atol=1e-5, rtol=1e-5)
        zero = record["advantages"] == 0
        assert torch.equal(record["shaped"][zero], record["advantages"][zero])
        learning = mask.bool() & ~zero & (record["entropy"] > 1e-3)  # bonus well above float32 rounding of A
        assert ((record["shaped"] - record["advantages"]).abs()[learning] > 0).all()


def test_u_per_is_positive_on_noisy_branch_samples(first_run):
    record = audit(first_run[4], 1)
    noisy = record["is_noisy"].bool()
    mask = record["response_mask"].bool()
    per_row = (record["u_per"] * mask).sum(-1)
    assert (per_row[noisy] > 0).all()
    assert not per_row[~noisy].any()  # text-only rows: u_per = 0
    assert (record["u_per"][mask] >= -1e-6).all()  # exact symmetric KL is never negative


def test_resume_continues_the_schedule(first_run, resumed_run):
    records, audit_dir, output = resumed_run
    assert "global_step_2" in output
    assert [r["step"] for r in records] == [3]
    assert records[0]["data"]["vogue/p_noi"] == pytest.approx(1 - 2 / SCHEDULE_STEPS)
    assert os.path.exists(os.path.join(audit_dir, "step_3.pt"))


def test_reruns_and_resumes_perturb_every_response_identically(first_run, resumed_run, second_run):
    """Perturbations are keyed by (run seed, step, prompt identity, position in the group): a second run from
    scratch (new uids, new Ray cluster) and the resumed run apply the same T to the same response of the same
    step — same seeds, bit-identical perturbed pixel_values."""
    first_audit, again_audit = first_run[4], second_run[1]
    for step, original in ((1, first_audit), (2, first_audit), (3, resumed_run[1])):
        before, after = audit(original, step)["perturbations"], audit(again_audit, step)["perturbations"]
        assert before and before == after, step
