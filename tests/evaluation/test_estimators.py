"""pass@k, maj@k and the bootstrap interval against brute force and closed forms."""

import itertools
import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.vogue.evaluation.metrics import bootstrap_ci, maj_at_k, mean_pass_at_k, pass_at_k, pass_at_k_per_prompt

PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True)


def brute_force_pass_at_k(n, c, k):
    """Fraction of all k-subsets of n responses (the first c correct) that hold a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


def brute_force_maj_at_k(preds, accs, k):
    """Mean over all k-subsets of the majority vote's accuracy; ties split evenly, "" abstains."""
    total = Fraction(0)
    subsets = list(itertools.combinations(range(len(preds)), k))
    for subset in subsets:
        votes = Counter(preds[i] for i in subset if preds[i] != "")
        if not votes:
            continue
        top = max(votes.values())
        winners = [answer for answer, count in votes.items() if count == top]
        for answer in winners:
            members = [i for i in range(len(preds)) if preds[i] == answer]
            total += Fraction(sum(accs[i] == 1 for i in members), len(members)) / len(winners)
    return float(total / len(subsets))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration_of_all_k_subsets(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


@pytest.mark.parametrize("n, c, k", [(1000, 3, 10), (5000, 250, 16), (10000, 9000, 1), (200, 1, 200)])
def test_pass_at_k_matches_the_exact_binomial_form_for_large_n(n, c, k):
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12, abs=1e-15)


def test_pass_at_k_edge_cases():
    assert pass_at_k(16, 0, 4) == 0.0
    assert pass_at_k(16, 16, 4) == 1.0
    assert pass_at_k(4, 1, 4) == 1.0  # k = n: solved iff any sample is correct
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 1, 1) == 0.25  # pass@1 = c/n
    assert pass_at_k(4, 1, 2) == 0.5
    assert pass_at_k(10, 8, 3) == 1.0  # n − c < k
    with pytest.raises(ValueError, match="k = 5 > n = 4"):
        pass_at_k(4, 1, 5)
    for bad in [(0, 0, 1), (4, 5, 1), (4, -1, 1), (4, 1, 0), (4.0, 1, 1), (4, True, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_pass_at_k_of_one_correct_in_four_is_one_not_the_bootstrap_value():
    # verl's best@4 bootstrap scores this prompt ≈ 0.68 (issue 12)
    assert mean_pass_at_k([(4, 1)], 4) == 1.0


def test_mean_and_per_prompt_pass_at_k():
    counts = [(4, 0), (4, 1), (4, 4), (8, 2)]
    per_prompt = pass_at_k_per_prompt(counts, 2)
    assert per_prompt == pytest.approx([0.0, 0.5, 1.0, 1 - 15 / 28])
    assert mean_pass_at_k(counts, 2) == pytest.approx(sum(per_prompt) / 4)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)


@PROPERTIES
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(0, n), st.integers(1, n), st.integers(1, n))))
def test_pass_at_k_is_bounded_and_monotone_in_c_and_k(args):
    n, c1, c2, k1, k2 = args
    (c_low, c_high), (k_low, k_high) = sorted((c1, c2)), sorted((k1, k2))
    value = pass_at_k(n, c_low, k_low)
    assert 0.0 <= value <= 1.0
    assert pass_at_k(n, c_high, k_low) >= value - 1e-12
    assert pass_at_k(n, c_low, k_high) >= value - 1e-12


@pytest.mark.parametrize(
    "preds, accs",
    [
        (["1", "1", "2", "3"], [1, 1, 0, 0]),
        (["1", "2", "2", "", "1", "3"], [1, 0, 0, 0, 1, 0]),
        (["a", "b", "c", "d", "e"], [0, 1, 0, 0, 0]),
        (["", "", "x", "y", "y", "x", "x"], [0, 0, 1, 0, 0, 1, 1]),
        (["", "", ""], [0, 0, 0]),
        (["5", "5", "5"], [1, 1, 1]),
    ],
)
def test_maj_at_k_equals_enumeration_of_all_k_subsets(preds, accs):
    for k in range(1, len(preds) + 1):
        assert maj_at_k(preds, accs, k) == pytest.approx(brute_force_maj_at_k(preds, accs, k), abs=1e-12), k


@PROPERTIES
@given(st.lists(st.sampled_from(["", "a", "b", "c"]), min_size=1, max_size=8), st.data())
def test_maj_at_k_matches_enumeration_on_random_votes(preds, data):
    correct_answer = data.draw(st.sampled_from(["a", "b", "c"]))
    accs = [int(pred == correct_answer) for pred in preds]
    k = data.draw(st.integers(1, len(preds)))
    value = maj_at_k(preds, accs, k)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(brute_force_maj_at_k(preds, accs, k), abs=1e-12)


def test_maj_at_one_is_mean_accuracy_and_maj_at_n_is_the_full_vote():
    preds, accs = ["7", "7", "3", "4", ""], [1, 1, 0, 0, 0]
    assert maj_at_k(preds, accs, 1) == pytest.approx(2 / 5)
    assert maj_at_k(preds, accs, 5) == 1.0
    assert maj_at_k(["3", "7", "4"], [0, 1, 0], 3) == pytest.approx(1 / 3)  # three-way tie
    with pytest.raises(ValueError, match="k = 4 > n = 3"):
        maj_at_k(["1", "2", "3"], [0, 0, 1], 4)
    with pytest.raises(ValueError, match="preds for"):
        maj_at_k(["1"], [0, 1], 1)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(123)
    values = rng.random(200)
    low, high = bootstrap_ci(values, seed=7)
    assert (low, high) == bootstrap_ci(values, seed=7)
    assert (low, high) != bootstrap_ci(values, seed=8)
    assert low < values.mean() < high
    narrow = bootstrap_ci(values, confidence=0.5, seed=7)
    assert low < narrow[0] < narrow[1] < high
    # the normal approximation of the 95% interval: mean ± 1.96·sd/√m
    half_width = 1.96 * values.std() / math.sqrt(values.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_bootstrap_interval_edge_cases():
    assert bootstrap_ci([0.25]) == (0.25, 0.25)
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    for kwargs in [{"confidence": 1.0}, {"confidence": 0.0}, {"resamples": 0}]:
        with pytest.raises(ValueError):
            bootstrap_ci([0.0, 1.0], **kwargs)
    with pytest.raises(ValueError, match="no values"):
        bootstrap_ci([])
