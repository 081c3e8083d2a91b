import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.vogue.core.schedule import diffusion_noise_step, draw_noisy_branch, noisy_branch_probability


def test_linear_schedule_endpoints_match_the_paper():
    assert noisy_branch_probability(0, 200) == 1.0
    assert noisy_branch_probability(100, 200) == pytest.approx(0.5)
    assert noisy_branch_probability(200, 200) == 0.0
    assert noisy_branch_probability(250, 200) == 0.0  # max(0, 1 − s/s_total)
    assert noisy_branch_probability(50, 200, start=0.8, end=0.2) == pytest.approx(0.65)


def test_cosine_and_fixed_schedules():
    assert noisy_branch_probability(0, 100, "cosine") == pytest.approx(1.0)
    assert noisy_branch_probability(50, 100, "cosine") == pytest.approx(0.5)
    assert noisy_branch_probability(100, 100, "cosine") == pytest.approx(0.0)
    assert noisy_branch_probability(0, 100, "fixed") == 0.5 == noisy_branch_probability(99, 100, "fixed")
    assert noisy_branch_probability(7, 0, "fixed", fixed=0.3) == 0.3


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["linear", "cosine"]),
    st.integers(1, 1000),
    st.integers(0, 1200),
    st.integers(0, 1200),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_schedules_are_monotone_and_bounded(schedule, total, s1, s2, start, end):
    first, second = sorted((s1, s2))
    p1 = noisy_branch_probability(first, total, schedule, start, end)
    p2 = noisy_branch_probability(second, total, schedule, start, end)
    lo, hi = min(start, end), max(start, end)
    assert lo - 1e-12 <= p1 <= hi + 1e-12 and lo - 1e-12 <= p2 <= hi + 1e-12
    assert (p2 - p1) * (end - start) >= -1e-12  # moves from start towards end, never back


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="schedule must be one of"):
        noisy_branch_probability(0, 10, "exp")
    with pytest.raises(ValueError, match="total_steps"):
        noisy_branch_probability(0, 0)
    with pytest.raises(ValueError, match="start"):
        noisy_branch_probability(0, 10, start=1.5)


def test_sample_granularity_draws_each_response_independently():
    draws = draw_noisy_branch(100_000, None, 0.3, "sample", torch.Generator().manual_seed(0))
    assert draws.dtype == torch.bool and draws.shape == (100_000,)
    assert abs(draws.float().mean().item() - 0.3) < 0.006  # ~4 standard errors


def test_step_granularity_draws_once_per_batch():
    gen = torch.Generator().manual_seed(1)
    batches = [draw_noisy_branch(20, None, 0.5, "step", gen) for _ in range(200)]
    assert all(b.all() or not b.any() for b in batches)
    assert 60 < sum(bool(b[0]) for b in batches) < 140


def test_group_granularity_shares_the_draw_within_a_prompt():
    uids = ["a", "a", "b", "c", "b", "c", "a"]
    gen = torch.Generator().manual_seed(2)
    for _ in range(50):
        draws = draw_noisy_branch(len(uids), uids, 0.5, "group", gen)
        for uid in set(uids):
            members = {bool(draws[i]) for i, u in enumerate(uids) if u == uid}
            assert len(members) == 1


@pytest.mark.parametrize("granularity", ["sample", "group", "worker", "step"])
def test_draws_are_reproducible_and_respect_p_bounds(granularity):
    uids = [i // 5 for i in range(40)]
    one = draw_noisy_branch(40, uids, 0.5, granularity, torch.Generator().manual_seed(7), shards=4)
    two = draw_noisy_branch(40, uids, 0.5, granularity, torch.Generator().manual_seed(7), shards=4)
    assert torch.equal(one, two)
    assert not draw_noisy_branch(40, uids, 0.0, granularity, shards=4).any()
    assert draw_noisy_branch(40, uids, 1.0, granularity, shards=4).all()


def test_draw_rejects_bad_arguments():
    with pytest.raises(ValueError, match="granularity"):
        draw_noisy_branch(4, None, 0.5, "token")
    with pytest.raises(ValueError, match="p must be"):
        draw_noisy_branch(4, None, 1.5)
    with pytest.raises(ValueError, match="3 entries for 4 samples"):
        draw_noisy_branch(4, [0, 0, 1], 0.5, "group")
    with pytest.raises(ValueError, match="needs group_index"):
        draw_noisy_branch(4, None, 0.5, "group")


def test_noisyrollout_diffusion_step_decay():
    assert diffusion_noise_step(0, 200, initial_step=500, sharpness=30) == int(500 * (1 - 1 / (1 + 2.718281828 ** 6)))
    assert diffusion_noise_step(40, 200, initial_step=500) == 250  # the sigmoid's midpoint
    steps = [diffusion_noise_step(s, 200) for s in range(0, 201, 10)]
    assert steps == sorted(steps, reverse=True) and steps[-1] < 10


def test_worker_granularity_draws_once_per_contiguous_block():
    gen = torch.Generator().manual_seed(3)
    for num_samples, shards in ((40, 8), (40, 1), (12, 12), (10, 4)):
        for _ in range(30):
            draws = draw_noisy_branch(num_samples, None, 0.5, "worker", gen, shards=shards)
            blocks = [draws[i * num_samples // shards : (i + 1) * num_samples // shards] for i in range(shards)]
            assert sum(len(b) for b in blocks) == num_samples
            assert all(b.all() or not b.any() for b in blocks)  # one Bernoulli per block


def test_worker_granularity_noisy_fraction_is_binomial():
    """Over many steps the noisy fraction is Binomial(W, p)/W (the released code's per-worker draw)."""
    from math import comb

    shards, p, steps = 8, 0.3, 4000
    gen = torch.Generator().manual_seed(4)
    counts = [int(draw_noisy_branch(64, None, p, "worker", gen, shards=shards).sum()) // (64 // shards)
              for _ in range(steps)]
    for k in range(shards + 1):
        expected = steps * comb(shards, k) * p**k * (1 - p) ** (shards - k)
        observed = counts.count(k)
        assert abs(observed - expected) <= 5 * max(expected * (1 - expected / steps), 1) ** 0.5 + 1, (k, observed, expected)


def test_worker_granularity_needs_shards():
    with pytest.raises(ValueError, match="needs shards"):
        draw_noisy_branch(4, None, 0.5, "worker")
    assert draw_noisy_branch(6, None, 1.0, "worker", shards=3).all()
