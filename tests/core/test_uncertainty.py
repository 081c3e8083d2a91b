import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical, kl_divergence

import torch.nn.functional as F

from recipe.vogue.core.uncertainty import (
    entropy_from_logits,
    forward_kl_from_logits,
    kl_from_logits,
    measure_at_positions,
    sampled_token_entropy,
    symmetric_kl_from_logits,
    symmetric_kl_from_sampled,
)


def reference_symmetric_kl(raw_logits, noisy_logits):
    p = Categorical(logits=raw_logits.float())
    q = Categorical(logits=noisy_logits.float())
    return 0.5 * (kl_divergence(p, q) + kl_divergence(q, p))


def random_logits(*shape, seed, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen) * scale


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 8, 64])
def test_full_kl_matches_torch_distributions_fp32(chunk_size):
    raw = random_logits(2, 7, 50, seed=0)
    noisy = raw + random_logits(2, 7, 50, seed=1, scale=0.7)
    got = symmetric_kl_from_logits(raw, noisy, chunk_size=chunk_size)
    assert got.shape == (2, 7) and got.dtype == torch.float32
    torch.testing.assert_close(got, reference_symmetric_kl(raw, noisy), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk_size", [4, 5])
def test_full_kl_bf16_inputs(chunk_size):
    raw = random_logits(3, 9, 300, seed=2).bfloat16()
    noisy = (raw.float() + random_logits(3, 9, 300, seed=3, scale=0.5)).bfloat16()
    got = symmetric_kl_from_logits(raw, noisy, chunk_size=chunk_size)
    assert got.dtype == torch.float32
    # the reference sees the same (bf16-rounded) logits in fp32, so only fp32 arithmetic differs
    torch.testing.assert_close(got, reference_symmetric_kl(raw, noisy), rtol=1e-4, atol=1e-5)
    assert (got > 0).all()


def test_full_kl_is_zero_for_identical_branches_and_symmetric():
    raw = random_logits(11, 40, seed=4)
    noisy = random_logits(11, 40, seed=5)
    assert symmetric_kl_from_logits(raw, raw.clone()).abs().max() < 1e-6
    torch.testing.assert_close(symmetric_kl_from_logits(raw, noisy), symmetric_kl_from_logits(noisy, raw))


def test_full_kl_temperature_divides_logits():
    raw = random_logits(6, 30, seed=6)
    noisy = random_logits(6, 30, seed=7)
    got = symmetric_kl_from_logits(raw, noisy, chunk_size=4, temperature=0.7)
    torch.testing.assert_close(got, reference_symmetric_kl(raw / 0.7, noisy / 0.7), rtol=1e-5, atol=1e-6)


def test_full_kl_masked_vocabulary_entries():
    raw = random_logits(5, 20, seed=8)
    noisy = random_logits(5, 20, seed=9)
    banned = torch.zeros(20, dtype=torch.bool)
    banned[[0, 3, 17]] = True
    raw_masked = raw.masked_fill(banned, float("-inf"))
    noisy_masked = noisy.masked_fill(banned, float("-inf"))
    got = symmetric_kl_from_logits(raw_masked, noisy_masked, chunk_size=2)
    expected = reference_symmetric_kl(raw[:, ~banned], noisy[:, ~banned])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # an entry impossible under one branch only makes the divergence infinite
    one_sided = symmetric_kl_from_logits(raw_masked, noisy)
    assert torch.isinf(one_sided).all() and (one_sided > 0).all()


def test_full_kl_rejects_bad_arguments():
    a = torch.zeros(2, 5)
    with pytest.raises(ValueError, match="differ in shape"):
        symmetric_kl_from_logits(a, torch.zeros(2, 6))
    with pytest.raises(ValueError, match="chunk_size"):
        symmetric_kl_from_logits(a, a, chunk_size=0)
    with pytest.raises(ValueError, match="temperature"):
        symmetric_kl_from_logits(a, a, temperature=0.0)


def _largest_allocation_bytes(fn):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return max(event.cpu_memory_usage for event in prof.events())


def test_full_kl_never_allocates_a_full_fp32_copy():
    tokens, vocab, chunk = 256, 4096, 16
    raw = random_logits(tokens, vocab, seed=10).bfloat16()
    noisy = random_logits(tokens, vocab, seed=11).bfloat16()
    chunk_bytes = chunk * vocab * 4
    largest = _largest_allocation_bytes(lambda: symmetric_kl_from_logits(raw, noisy, chunk_size=chunk))
    assert largest <= chunk_bytes, (largest, chunk_bytes)
    naive = _largest_allocation_bytes(lambda: torch.log_softmax(raw.float(), -1))
    assert naive >= tokens * vocab * 4  # the profiler does see the full copy when one is made


@pytest.mark.parametrize("chunk_size", [1, 5, 128])
def test_entropy_matches_torch_distributions(chunk_size):
    logits = random_logits(3, 7, 60, seed=12)
    torch.testing.assert_close(
        entropy_from_logits(logits, chunk_size=chunk_size), Categorical(logits=logits).entropy(), rtol=1e-5, atol=1e-6
    )
    masked = logits.clone()
    masked[..., :10] = float("-inf")
    torch.testing.assert_close(
        entropy_from_logits(masked, chunk_size=chunk_size), Categorical(logits=logits[..., 10:]).entropy(),
        rtol=1e-5, atol=1e-6,
    )


def _draw_sampled_estimates(estimator, seed, num_draws=400_000, vocab=40):
    raw = random_logits(vocab, seed=seed, scale=1.5)
    noisy = raw + random_logits(vocab, seed=seed + 1, scale=0.8)
    log_p, log_q = torch.log_softmax(raw, -1), torch.log_softmax(noisy, -1)
    tokens = torch.multinomial(log_p.exp(), num_draws, replacement=True, generator=torch.Generator().manual_seed(seed))
    estimates = symmetric_kl_from_sampled(log_p[tokens], log_q[tokens], estimator=estimator).double()
    return estimates, Categorical(logits=raw), Categorical(logits=noisy)


def test_sampled_estimator_is_unbiased_for_symmetric_kl():
    estimates, p, q = _draw_sampled_estimates("sampled", seed=20)
    exact = float(0.5 * (kl_divergence(p, q) + kl_divergence(q, p)))
    standard_error = float(estimates.std()) / math.sqrt(estimates.numel())
    assert abs(float(estimates.mean()) - exact) < 5 * standard_error, (float(estimates.mean()), exact)
    assert (estimates >= 0).all()


def released_code_kl(raw_log_probs, aug_log_probs, forward_only):
    """METHOD.md §9, as the released code writes it: F.kl_div on the sampled token's probabilities."""
    raw_probs, aug_probs = raw_log_probs.exp(), aug_log_probs.exp()
    forward = F.kl_div(torch.log(aug_probs + 1e-8), raw_probs, reduction="none")
    if forward_only:
        return forward
    return (forward + F.kl_div(torch.log(raw_probs + 1e-8), aug_probs, reduction="none")) / 2.0


@pytest.mark.parametrize("estimator, forward_only", [("forward", True), ("dupl_code", False)])
def test_released_code_surrogates_match_f_kl_div(estimator, forward_only):
    raw = torch.log_softmax(random_logits(4, 9, 30, seed=31), -1)[..., 0]
    noisy = torch.log_softmax(random_logits(4, 9, 30, seed=32), -1)[..., 0]
    raw[0, 0], noisy[0, 1] = -200.0, -200.0  # probabilities that underflow to 0 in one branch
    noisy[1, 2] = raw[1, 2]  # q = p: the 1e−8 terms make the surrogate dip just below 0
    got = symmetric_kl_from_sampled(raw, noisy, estimator)
    torch.testing.assert_close(got, released_code_kl(raw, noisy, forward_only), rtol=1e-6, atol=1e-9)
    assert torch.isfinite(got).all()
    assert got[1, 2] <= 0


def test_forward_surrogate_hand_computed():
    # a = 0.5, b = 0.25: a ln(a/b) = 0.5 ln 2 (up to the 1e−8 guard); a = b: −a ln(1 + 1e−8/a) < 0
    log_p = torch.tensor([math.log(0.5), math.log(0.3)])
    log_q = torch.tensor([math.log(0.25), math.log(0.3)])
    got = symmetric_kl_from_sampled(log_p, log_q, "forward").double()
    torch.testing.assert_close(got, torch.tensor([0.5 * math.log(2), -1e-8], dtype=torch.float64), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_forward_full_kl_matches_torch_distributions(chunk_size):
    raw = random_logits(2, 7, 50, seed=33)
    noisy = raw + random_logits(2, 7, 50, seed=34, scale=0.7)
    got = forward_kl_from_logits(raw, noisy, chunk_size=chunk_size, temperature=0.8)
    assert got.shape == (2, 7) and got.dtype == torch.float32
    expected = kl_divergence(Categorical(logits=raw / 0.8), Categorical(logits=noisy / 0.8))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(kl_from_logits("forward_full", raw, noisy, chunk_size, 0.8), got)
    torch.testing.assert_close(
        kl_from_logits("full", raw, noisy, chunk_size, 0.8), symmetric_kl_from_logits(raw, noisy, chunk_size, 0.8)
    )
    with pytest.raises(ValueError, match="unknown full-vocabulary estimator"):
        kl_from_logits("sampled", raw, noisy, chunk_size, 0.8)


def test_forward_full_kl_masked_entries_and_memory():
    raw = random_logits(5, 20, seed=35)
    noisy = random_logits(5, 20, seed=36)
    banned = torch.zeros(20, dtype=torch.bool)
    banned[[1, 4]] = True
    both = forward_kl_from_logits(raw.masked_fill(banned, float("-inf")), noisy.masked_fill(banned, float("-inf")), 2)
    expected = kl_divergence(Categorical(logits=raw[:, ~banned]), Categorical(logits=noisy[:, ~banned]))
    torch.testing.assert_close(both, expected, rtol=1e-5, atol=1e-6)
    # impossible under p only: contributes 0; impossible under q only: infinite divergence
    torch.testing.assert_close(
        forward_kl_from_logits(raw.masked_fill(banned, float("-inf")), noisy),
        kl_divergence(Categorical(logits=raw.masked_fill(banned, float("-inf"))), Categorical(logits=noisy)),
        rtol=1e-5, atol=1e-6,
    )
    assert torch.isinf(forward_kl_from_logits(raw, noisy.masked_fill(banned, float("-inf")))).all()
    tokens, vocab, chunk = 256, 4096, 16
    big_raw = random_logits(tokens, vocab, seed=37).bfloat16()
    big_noisy = random_logits(tokens, vocab, seed=38).bfloat16()
    largest = _largest_allocation_bytes(lambda: forward_kl_from_logits(big_raw, big_noisy, chunk_size=chunk))
    assert largest <= chunk * vocab * 4


def test_dupl_code_surrogate_hand_computed():
    # a = 0.5, b = 0.25: ½[a ln(a/b) + b ln(b/a)] = ½[0.5 ln 2 − 0.25 ln 2] = ln 2 / 8 (up to the 1e−8 guard)
    log_p = torch.tensor([math.log(0.5), math.log(0.3)])
    log_q = torch.tensor([math.log(0.25), math.log(0.3)])
    got = symmetric_kl_from_sampled(log_p, log_q, "dupl_code")
    torch.testing.assert_close(got, torch.tensor([math.log(2) / 8, 0.0]), rtol=1e-6, atol=1e-7)


def test_sampled_token_entropy_hand_computed():
    got = sampled_token_entropy(torch.tensor([math.log(0.5), 0.0]))
    torch.testing.assert_close(got, torch.tensor([0.5 * math.log(2), 0.0]))


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=-30, max_value=0, allow_nan=False),
    st.floats(min_value=-30, max_value=0, allow_nan=False),
)
def test_sampled_and_dupl_estimators_are_non_negative(log_p, log_q):
    lp, lq = torch.tensor([log_p]), torch.tensor([log_q])
    assert symmetric_kl_from_sampled(lp, lq, "sampled").item() >= 0
    assert symmetric_kl_from_sampled(lp, lq, "dupl_code").item() >= -1e-6


def test_sampled_estimators_reject_bad_arguments():
    with pytest.raises(ValueError, match="unknown u_per estimator"):
        symmetric_kl_from_sampled(torch.zeros(2), torch.zeros(2), "reverse")
    with pytest.raises(ValueError, match="differ in shape"):
        symmetric_kl_from_sampled(torch.zeros(2), torch.zeros(3), "sampled")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 9), st.integers(1, 5), st.integers(0, 1000))
def test_measure_at_positions_equals_the_measure_on_the_selected_rows(batch, length, chunk, seed):
    """Chunked in place over flat indices = the measure applied to the gathered positions (entropy, and a KL
    against reference logits already cut to those positions), against torch.distributions."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, length, 11, generator=generator) * 3
    index = torch.randperm(batch * length, generator=generator)[: max(1, batch * length // 2)].sort().values
    picked = logits.reshape(-1, 11)[index]
    reference = torch.randn(index.numel(), 11, generator=generator)
    entropy = measure_at_positions(lambda x: entropy_from_logits(x, chunk), chunk, index, logits)
    torch.testing.assert_close(entropy, Categorical(logits=picked).entropy(), rtol=1e-5, atol=1e-5)
    kl = measure_at_positions(lambda p, q: symmetric_kl_from_logits(p, q, chunk), chunk, index, logits, reference)
    p, q = Categorical(logits=reference), Categorical(logits=picked)
    torch.testing.assert_close(kl, 0.5 * (kl_divergence(p, q) + kl_divergence(q, p)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="reference logits"):
        measure_at_positions(lambda p, q: p, chunk, index, logits, reference[:, :5])
