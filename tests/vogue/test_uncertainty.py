import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical, kl_divergence

from recipe.vogue.uncertainty import (
    entropy_from_logits,
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


def test_forward_estimator_is_unbiased_for_forward_kl_and_can_be_negative():
    estimates, p, q = _draw_sampled_estimates("forward", seed=30)
    exact = float(kl_divergence(p, q))
    standard_error = float(estimates.std()) / math.sqrt(estimates.numel())
    assert abs(float(estimates.mean()) - exact) < 5 * standard_error
    assert (estimates < 0).any()


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
