"""The two implementations of the log-prob stage's vocabulary math (eager, compiled) against an fp64 reference
built from torch.distributions, on adversarial logits; −inf conventions; one compiled graph per measure."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch._dynamo.utils import counters
from torch.distributions import Categorical, kl_divergence

from recipe.vogue.core.vocab_math import entropy_function, paired_function, resolve_mode

MODES = ("eager", "compiled")


def reference(raw, paired, temperature, estimator):
    """(raw entropy, paired entropy, u_per) in fp64: torch.distributions' Categorical entropy and KL (which put
    +inf where q_v = 0 < p_v and 0 where p_v = 0), on the same logits read exactly."""
    p = Categorical(logits=raw.double() / temperature)
    q = Categorical(logits=paired.double() / temperature)
    forward = kl_divergence(p, q)
    kl = forward if estimator == "forward_full" else 0.5 * (forward + kl_divergence(q, p))
    return p.entropy(), q.entropy(), kl


def run(mode, raw, paired, temperature, estimator):
    return paired_function(mode, temperature, estimator)(raw, paired)


def error(values, expected):
    """max |value − expected| over the finite expectations; the infinite ones must be matched exactly."""
    assert not values.isnan().any()
    infinite = expected.isinf()
    assert torch.equal(values[infinite].double(), expected[infinite])
    return float((values.double() - expected)[~infinite].abs().max()) if (~infinite).any() else 0.0


def assert_within_bound(raw, paired, temperature, estimator):
    expected = reference(raw, paired, temperature, estimator)
    eager = run("eager", raw, paired, temperature, estimator)
    fused = run("compiled", raw, paired, temperature, estimator)
    for name, want, old, new in zip(("raw entropy", "paired entropy", "u_per"), expected, eager, fused, strict=True):
        finite = want[~want.isinf()]
        floor = float((1e-6 + 1e-5 * finite.abs()).max()) if finite.numel() else 0.0
        old_error, new_error = error(old, want), error(new, want)
        assert new_error <= max(2 * old_error, floor), (name, new_error, old_error, floor)
        assert old_error <= max(floor, 1e-3 * float(finite.abs().max()) if finite.numel() else 0.0), (name, old_error)
    # the paired functions' entropies are the entropy-only functions' (the same code, or another fused kernel)
    for mode, values in (("eager", eager), ("compiled", fused)):
        entropy = entropy_function(mode, temperature)
        torch.testing.assert_close(entropy(raw), values[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(entropy(paired), values[1], rtol=1e-5, atol=1e-6)


@st.composite
def logits_pairs(draw):
    rows = draw(st.integers(1, 6))
    vocabulary = draw(st.integers(2, 700))  # rarely a multiple of any block size
    scale = draw(st.sampled_from([1e-30, 1.0, 8.0, 20.0]))  # fp64 probabilities stay > 0
    offset = draw(st.sampled_from([0.0, -3000.0, 5000.0]))
    dtype = draw(st.sampled_from([torch.bfloat16, torch.float32]))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(rows, vocabulary, generator=generator, dtype=torch.float64) * scale + offset
    paired = raw + torch.randn(rows, vocabulary, generator=generator, dtype=torch.float64) * draw(
        st.sampled_from([0.0, 0.01, 1.0])) * max(scale, 1.0)
    banned = draw(st.sampled_from(["none", "both", "one"]))
    if banned != "none" and vocabulary > 2:
        columns = torch.randperm(vocabulary, generator=generator)[: vocabulary // 3]
        raw[:, columns] = -math.inf
        paired[:, columns] = -math.inf
        if banned == "one":  # the raw branch also bans these; the paired branch keeps them
            extra = torch.randperm(vocabulary, generator=generator)[: 2]
            extra = extra[~torch.isin(extra, columns)]
            raw[0, extra] = -math.inf
    return raw.to(dtype), paired.to(dtype), draw(st.sampled_from([0.5, 0.7, 1.0, 1.3, 2.0]))


@pytest.mark.parametrize("estimator", ["full", "forward_full"])
@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=logits_pairs())
def test_compiled_error_is_within_twice_the_eager_error_of_fp64(case, estimator):
    raw, paired, temperature = case
    assert_within_bound(raw, paired, temperature, estimator)


@pytest.mark.parametrize("mode", MODES)
def test_an_entry_banned_in_both_branches_contributes_nothing(mode):
    raw = torch.tensor([[0.0, 1.0, -math.inf, 2.0]])
    paired = torch.tensor([[0.5, 1.0, -math.inf, 2.0]])
    values = run(mode, raw, paired, 1.0, "full")
    expected = reference(raw[:, [0, 1, 3]], paired[:, [0, 1, 3]], 1.0, "full")
    for value, want in zip(values, expected, strict=True):
        assert not value.isnan().any()
        assert value.double().item() == pytest.approx(want.item(), abs=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("estimator", ["full", "forward_full"])
def test_an_entry_banned_in_one_branch_makes_u_per_infinite_even_when_it_underflows(mode, estimator):
    # entry 1 has probability e^-200 under the raw logits: 0 in fp32, > 0 in fact; the paired branch bans it
    raw = torch.tensor([[0.0, -200.0, 1.0]])
    paired = torch.tensor([[0.0, -math.inf, 1.0]])
    raw_entropy, paired_entropy, u_per = run(mode, raw, paired, 1.0, estimator)
    assert u_per.item() == math.inf
    assert math.isfinite(raw_entropy.item()) and math.isfinite(paired_entropy.item())
    # banned only in the raw branch: infinite for the symmetric KL, 0 for KL(p‖q) (p_v = 0 there)
    swapped = run(mode, paired, raw, 1.0, estimator)[2].item()
    assert swapped == (math.inf if estimator == "full" else pytest.approx(reference(paired, raw, 1.0, estimator)[2].item(), abs=1e-6))


def test_one_compiled_graph_serves_every_chunk_length_and_temperature():
    entropy = entropy_function("compiled", 1.0)
    pair = paired_function("compiled", 1.0, "full")
    warm = torch.randn(4, 300)
    entropy(warm), pair(warm, warm.flip(-1))
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 2  # both functions went through dynamo in this process (now or earlier), not run eagerly
    for rows in (1, 2, 3, 7, 128):  # the last chunk of a row is shorter; one position is its own case
        for vocabulary in (300, 151):
            chunk = torch.randn(rows, vocabulary)
            entropy(chunk), pair(chunk, chunk.flip(-1))
            paired_function("compiled", 0.6, "full")(chunk, chunk.flip(-1))
    assert counters["stats"]["unique_graphs"] == graphs
    assert entropy(torch.empty(0, 300)).shape == (0,)


def test_modes_and_estimators_are_checked():
    assert resolve_mode("auto", True) == "compiled" and resolve_mode("auto", False) == "eager"
    assert resolve_mode("eager", True) == "eager" and resolve_mode("compiled", False) == "compiled"
    with pytest.raises(ValueError, match="vocab_math"):
        resolve_mode("fused", True)
    with pytest.raises(ValueError, match="full-vocabulary"):
        paired_function("eager", 1.0, "sampled")
