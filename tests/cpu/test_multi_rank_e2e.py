"""VOGUE with 2 data-parallel ranks through verl's own fit() on the CPU backend (gloo, FSDP2), p(s) = 0.5 and
2-row log-prob micro-batches: the ranks' micro-batches hold different (raw-only, probed) row groups, and
every rank must still run the same sequence of collectives (a mismatch fails with the platform's
"collective timeout: ranks disagree" instead of hanging)."""

import os

import pytest
import torch

from recipe.vogue.cpu import tiny_run

pytestmark = pytest.mark.slow

STEPS = 3


@pytest.fixture(scope="module")
def two_rank_run(tiny_assets, audited_vogue_run):
    return audited_vogue_run("two_ranks", tiny_assets, STEPS, [
        *tiny_run.TWO_RANKS, "data.train_batch_size=8", "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "actor_rollout_ref.rollout.n=2", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2", "trainer.test_freq=-1",
        "trainer.val_before_train=false", "vogue.schedule.type=fixed", "vogue.schedule.fixed=0.5",
        # rows reach the ranks in generation order, so which rank holds which probed row follows from the seeded
        # draw alone (verl's balancing orders them by generated length): the disagreement below happens every run
        "trainer.balance_batch=false", "vogue.monitor_fraction=0",  # probed rows are exactly the noisy-branch rows
    ], extra_env=tiny_run.TWO_RANKS_ENV)


def test_two_ranks_train_three_steps_with_different_row_groups_per_rank(two_rank_run):
    records, audit_dir, output = two_rank_run
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    groups = tiny_run.row_groups(output)
    assert sorted(groups) == [0, 1]
    # each rank holds its contiguous half of the step's rows, in 2-row micro-batches: (raw-only, probed, no image)
    expected = {0: [], 1: []}
    for step in range(1, STEPS + 1):
        probed = torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)["is_noisy"].bool()
        for rank, rows in enumerate(probed.chunk(2)):
            expected[rank] += [(len(pair) - int(pair.sum()), int(pair.sum()), 0) for pair in rows.split(2)]
    assert groups == expected
    # the case that hung: in the same micro-batch, one rank has probed rows and the other none
    assert any((first[1] == 0) != (second[1] == 0) for first, second in zip(groups[0], groups[1])), groups
    for record in records:
        assert record["data"]["vogue/p_noi"] == pytest.approx(0.5)


def test_each_probed_row_has_a_positive_u_per_and_raw_rows_none(two_rank_run):
    """The outputs of both ranks come back to the right rows: u_per > 0 exactly on probed rows."""
    _, audit_dir, _ = two_rank_run
    for step in range(1, STEPS + 1):
        record = torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)
        per_row = (record["u_per"] * record["response_mask"]).sum(-1)
        probed = record["is_noisy"].bool()
        assert probed.any() and (~probed).any(), step
        assert (per_row[probed] > 0).all() and not per_row[~probed].any(), step
