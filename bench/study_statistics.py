"""The statistics of the pre-registered study analysis (docs/study_exploration.md): a paired t test over
seeds, a percentile bootstrap CI of the mean paired difference, and Holm's step-down correction.

The pairing unit is the seed: for a comparison A − B, d_s = value(A, s) − value(B, s) over the seeds both
arms ran. Pure Python (mpmath, installed with sympy, for Student's t distribution).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import mpmath

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95


class Comparison(NamedTuple):
    mean: float  # mean paired difference
    low: float  # bootstrap CI of the mean
    high: float
    t: float
    p: float  # two-sided paired t test
    seeds: int


def student_t_two_sided_p(t: float, df: int) -> float:
    """P(|T| ≥ |t|) for Student's t with ``df`` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2), the
    regularised incomplete beta function."""
    if df < 1:
        raise ValueError(f"a t test needs at least 1 degree of freedom, got {df}")
    if math.isinf(t):
        return 0.0
    x = df / (df + t * t)
    return float(mpmath.betainc(df / 2, 0.5, 0, x, regularized=True))


def student_t_quantile(q: float, df: int) -> float:
    """The q-quantile of Student's t with ``df`` degrees of freedom: the t ≥ 0 with P(|T| ≥ t) = 2(1 − q) for
    q > ½ (bisection on ``student_t_two_sided_p``, which falls as t grows), −quantile(1 − q) below ½."""
    if not 0 < q < 1:
        raise ValueError(f"a quantile needs 0 < q < 1, got {q}")
    if q < 0.5:
        return -student_t_quantile(1 - q, df)
    target, low, high = 2 * (1 - q), 0.0, 1.0
    while student_t_two_sided_p(high, df) > target:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if student_t_two_sided_p(middle, df) > target else (low, middle)
        if high - low <= 1e-12 * high:
            break
    return (low + high) / 2


def paired_t(differences: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p) of H0: mean difference 0, t = mean / (sd / √n) with n − 1 degrees of freedom."""
    if len(differences) < 2:
        raise ValueError(f"a paired t test needs at least 2 seeds, got {len(differences)}")
    mean, sd = statistics.fmean(differences), statistics.stdev(differences)
    if sd == 0:
        return (math.copysign(math.inf, mean), 0.0) if mean else (0.0, 1.0)
    t = mean / (sd / math.sqrt(len(differences)))
    return t, student_t_two_sided_p(t, len(differences) - 1)


def bootstrap_interval(differences: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``differences`` (seeds resampled with replacement); the
    resampling is seeded, so the interval is the same on every run."""
    if not differences:
        raise ValueError("a bootstrap interval of no differences")
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(differences, k=len(differences))) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return means[int(math.floor(tail * (resamples - 1)))], means[int(math.ceil((1 - tail) * (resamples - 1)))]


def compare(differences: Sequence[float], seed: int = 0) -> Comparison:
    t, p = paired_t(differences)
    low, high = bootstrap_interval(differences, seed)
    return Comparison(statistics.fmean(differences), low, high, t, p, len(differences))


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values: sorted ascending p_(1) ≤ … ≤ p_(m), adjusted p_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)).
    A comparison is significant at level α when its adjusted p ≤ α (family-wise error ≤ α)."""
    ordered = sorted(p_values.items(), key=lambda item: item[1])
    adjusted, running = {}, 0.0
    for rank, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p))
        adjusted[name] = running
    return adjusted
