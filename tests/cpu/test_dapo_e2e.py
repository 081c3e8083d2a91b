"""VOGUE on DAPO (base=dapo) trains end to end through verl's own loop on the CPU backend with 2
data-parallel ranks: 2 steps, one run shared by the tests. The dataloader yields 2 prompts per step for a batch of 4, so every step needs
refill rounds (generated after fit()'s generation put the replicas to sleep: the CPU rollout refuses to
generate asleep); the filter is unbounded, so the run cannot fail by the draw of the rollouts."""

import math
import os

import numpy as np
import pytest
import torch

from recipe.vogue.cpu import tiny_run

pytestmark = pytest.mark.slow

STEPS, GROUPS, N = 2, 4, 2
OVERRIDES = [
    *tiny_run.TWO_RANKS, "base=dapo", f"data.train_batch_size={GROUPS}", "data.gen_batch_size=2",
    "algorithm.filter_groups.max_num_gen_batches=0", f"actor_rollout_ref.rollout.n={N}",
    "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2", "trainer.test_freq=-1",
    "trainer.val_before_train=false", "vogue.kl_estimator=full", "vogue.schedule.type=fixed",
    "vogue.schedule.fixed=0.5", f"trainer.total_training_steps={STEPS}",
]


@pytest.fixture(scope="module")
def run(tiny_assets, tmp_path_factory):
    data_dir, model_dir = tiny_assets
    work_dir = str(tmp_path_factory.mktemp("dapo"))
    audit_dir = os.path.join(work_dir, "audit")
    records = tiny_run.train("vogue", data_dir, model_dir, work_dir, STEPS, [*OVERRIDES, f"vogue.audit_dir={audit_dir}"],
                             os.path.join(work_dir, "metrics.jsonl"), os.path.join(work_dir, "train.log"), timeout=900)
    steps = [r["data"] for r in records if "timing_s/step" in r["data"]]
    audits = [torch.load(os.path.join(audit_dir, f"step_{s}.pt"), weights_only=False) for s in range(1, STEPS + 1)]
    return steps, audits


def test_dapo_vogue_trains_with_refill_rounds(run):
    steps, _ = run
    assert len(steps) == STEPS
    for data in steps:
        for key in ("actor/pg_loss", "actor/grad_norm", "critic/score/mean", "vogue/g_per_mean"):
            assert math.isfinite(data[key]), key
        assert data["dynamic_sampling/rounds"] >= 2  # 2 prompts per round cannot fill 4 groups
        assert data["dynamic_sampling/generated_prompts"] == 2 * data["dynamic_sampling/rounds"]
        assert 0 < data["dynamic_sampling/kept_group_frac"] <= 1
        assert data["dynamic_sampling/kept_group_frac"] * data["dynamic_sampling/generated_prompts"] >= GROUPS


def test_only_mixed_groups_reach_the_update_and_vogue_draws_over_them(run):
    _, audits = run
    for record in audits:
        uids, acc = record["uid"], np.asarray(record["reward_extra"]["acc"], dtype=float)
        assert len(uids) == GROUPS * N and len(set(uids)) == GROUPS
        for uid in set(uids):
            group = acc[[i for i, other in enumerate(uids) if other == uid]]
            assert len(group) == N and 0.01 < group.mean() < 0.99
        mask = record["response_mask"].bool()
        noisy = record["is_noisy"].bool()
        assert len(noisy) == GROUPS * N
        per_row = (record["u_per"] * mask).sum(-1)
        assert (per_row[noisy] > 0).all() and not per_row[~noisy].any()


def test_overlong_shaping_is_in_the_trained_rewards(run):
    _, audits = run
    for record in audits:
        extra = record["reward_extra"]
        score = np.asarray(extra["score"], dtype=float)
        overlong = np.asarray(extra["overlong_reward"], dtype=float)
        lengths = record["response_mask"].sum(-1).numpy()
        np.testing.assert_allclose(overlong, np.minimum(-(lengths - (24 - 5)) / 5, 0.0), atol=1e-6)
        np.testing.assert_allclose(record["token_level_rewards"].sum(-1).numpy(), score + overlong, atol=1e-6)
