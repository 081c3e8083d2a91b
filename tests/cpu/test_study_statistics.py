"""bench/study_statistics.py against hand tables, closed forms and brute force; and the old study's committed
numbers reproduce the figures issue 23 quotes (VOGUE − GRPO pass@16: paired t p ≈ 0.08, t-interval
[−0.04, +0.31])."""

import importlib.util
import json
import math
import os
import statistics

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("study_statistics", os.path.join(REPO, "bench", "study_statistics.py"))
stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stats)


@pytest.mark.parametrize(("t", "df", "p"), [
    (2.776445, 4, 0.05), (2.228139, 10, 0.05), (4.302653, 2, 0.05), (12.7062, 1, 0.05), (3.169273, 10, 0.01),
    (1.0, 1, 0.5),  # Cauchy: P(|T| >= 1) = 1/2 exactly
    (0.0, 7, 1.0), (1.959964, 10**7, 0.05),  # the normal limit
])
def test_student_t_p_values_against_the_printed_tables(t, df, p):
    assert stats.student_t_two_sided_p(t, df) == pytest.approx(p, abs=2e-6)


def test_paired_t_is_mean_over_its_standard_error():
    differences = [0.1, 0.3, 0.2, 0.4]
    t, p = stats.paired_t(differences)
    assert t == pytest.approx(statistics.fmean(differences) / (statistics.stdev(differences) / 2))
    assert p == pytest.approx(stats.student_t_two_sided_p(t, 3))
    assert stats.paired_t([0.2, 0.2]) == (math.inf, 0.0) and stats.paired_t([0.0, 0.0]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        stats.paired_t([0.1])


def test_the_bootstrap_is_the_percentile_interval_of_resampled_means():
    differences = [0.0, 1.0]
    low, high = stats.bootstrap_interval(differences, resamples=2001)
    assert (low, high) == (0.0, 1.0)  # the means are 0, 0.5 or 1 with chances ¼, ½, ¼: the 2.5 % tails are 0 and 1
    assert stats.bootstrap_interval([0.3] * 5) == (0.3, 0.3)
    assert stats.bootstrap_interval([0.1, 0.5, 0.2], seed=3) == stats.bootstrap_interval([0.1, 0.5, 0.2], seed=3)


@given(st.lists(st.floats(-1, 1), min_size=2, max_size=6))
def test_the_bootstrap_interval_lies_within_the_data(differences):
    low, high = stats.bootstrap_interval(differences, resamples=500)
    assert min(differences) - 1e-12 <= low <= high <= max(differences) + 1e-12


def test_holm_against_a_hand_table():
    adjusted = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert stats.holm({"only": 0.2}) == {"only": 0.2}
    assert stats.holm({"a": 0.6, "b": 0.7}) == {"a": 1.0, "b": 1.0}


@given(st.lists(st.floats(0, 1), min_size=1, max_size=6, unique=True), st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_rejects_exactly_what_the_step_down_procedure_rejects(p_values, alpha):
    """Holm's procedure: walk the p-values in ascending order, rejecting while p_(j) <= alpha / (m − j + 1)."""
    # p exactly at a threshold α/k: the library's k·p and this α/k can round to opposite sides
    assume(all(abs(k * p - alpha) > 1e-12 for p in p_values for k in range(1, len(p_values) + 1)))
    named = {f"h{i}": p for i, p in enumerate(p_values)}
    rejected = set()
    for position, name in enumerate(sorted(named, key=named.get)):
        if named[name] > alpha / (len(named) - position):
            break
        rejected.add(name)
    assert {name for name, p in stats.holm(named).items() if p <= alpha} == rejected


def test_the_old_studys_committed_numbers_give_the_figures_the_issue_quotes():
    with open(os.path.join(REPO, "docs", "study_exploration_results.json")) as handle:
        summaries = json.load(handle)
    final = {(s["method"], s["seed"]): s["validation"][str(max(map(int, s["validation"])))]["pass@16"] for s in summaries}
    differences = [final["vogue", seed] - final["grpo", seed] for seed in range(3)]
    t, p = stats.paired_t(differences)
    assert p == pytest.approx(0.08, abs=0.005)
    half = 4.302653 * statistics.stdev(differences) / math.sqrt(3)  # t_{0.975, 2}
    assert (statistics.fmean(differences) - half, statistics.fmean(differences) + half) == pytest.approx((-0.04, 0.31), abs=0.005)
    assert all(d > 0 for d in differences)  # 3/3 positive seeds: a one-sided sign test gives only 0.5³ = 0.125
