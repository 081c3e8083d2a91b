"""Evaluation metrics (METHOD.md §8): unbiased pass@k, bootstrap intervals over prompts, maj@k, and the
benchmarks' own metrics. Pure (no verl import).

The unit is a ``Generation``: one scored response, one line of an evaluation dump (jsonl). A dump line
is verl's validation dump (``RayPPOTrainer._dump_generations``: ``input``, ``output``, ``gts``,
``score``, ``step`` and every reward extra key) with these keys on top:

    data_source  str, required   the benchmark: data_prep's dataset name ("mathverse", "wemath", …)
    row_id       str|int, req.   unique within data_source; prompts are grouped by (data_source, row_id),
                                 never by prompt text (MathVerse's Vision-Only rows share their text)
    acc          0 or 1, req.    the verifier's verdict (vogue_reward's ``acc``, or a judge's)
    pred         str             the canonical extracted answer maj@k votes on ("" = no answer)
    decoding     str             "greedy" (the pass@1 pass) or "sampled" (the pass@k pass); default "sampled"
    scorer       str             "rule" (vogue_reward's verifiers, the default) or "judge:<model>"
    extra_info   dict            the row's extra_info fields; ``BENCHMARK_FIELDS`` lists the ones the
                                 benchmark metrics read
``input``, ``output`` and ``score`` are required too; ``gts`` and ``step`` are optional.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "GREEDY",
    "SAMPLED",
    "RULE_SCORER",
    "REQUIRED_KEYS",
    "BENCHMARK_FIELDS",
    "BENCHMARK_METRICS",
    "Generation",
    "pass_at_k",
    "pass_at_k_per_prompt",
    "mean_pass_at_k",
    "maj_at_k",
    "bootstrap_ci",
    "mathverse_metrics",
    "mathvista_metrics",
    "wemath_metrics",
    "hallusionbench_metrics",
]

GREEDY = "greedy"
SAMPLED = "sampled"
DECODINGS = (GREEDY, SAMPLED)
RULE_SCORER = "rule"
REQUIRED_KEYS = ("input", "output", "score", "data_source", "row_id", "acc")
BENCHMARK_FIELDS = {
    "mathverse": ("problem_version",),
    "mathvista": ("task", "question_type"),
    "wemath": ("ID", "key"),
    "hallusionbench": ("category", "subcategory", "set_id", "figure_id", "question_id"),
}
MATHVERSE_VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
_WEMATH_KEY = re.compile(r"^(\d+)steps_(\d+|multi)$")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Generation:
    """One scored response (see the module docstring for the dump keys)."""

    data_source: str
    row_id: str
    acc: float
    score: float
    input: str = ""
    output: str = ""
    gts: Any = None
    pred: str = ""
    decoding: str = SAMPLED
    scorer: str = RULE_SCORER
    step: int | None = None
    extra_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> tuple[str, str]:
        """The prompt this response answers: (data_source, row_id)."""
        return self.data_source, self.row_id

    @property
    def correct(self) -> bool:
        return self.acc == 1

    @classmethod
    def from_dump(cls, entry) -> Generation:
        """Parse one dump line (a decoded JSON object). Raises ValueError saying which key is wrong."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"expected a JSON object, got {type(entry).__name__}")
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            raise ValueError(f"missing key(s) {', '.join(missing)} (a dump line needs {', '.join(REQUIRED_KEYS)})")
        if not isinstance(entry["data_source"], str) or not entry["data_source"]:
            raise ValueError(f"data_source must be a non-empty string, got {entry['data_source']!r}")
        if not (isinstance(entry["row_id"], str) or _is_number(entry["row_id"])):
            raise ValueError(f"row_id must be a string or a number, got {entry['row_id']!r}")
        if not _is_number(entry["acc"]) or entry["acc"] not in (0, 1):
            raise ValueError(f"acc must be 0 or 1, got {entry['acc']!r}")
        if not _is_number(entry["score"]):
            raise ValueError(f"score must be a number, got {entry['score']!r}")
        decoding = entry.get("decoding", SAMPLED)
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
        extra_info = entry.get("extra_info") or {}
        if not isinstance(extra_info, Mapping):
            raise ValueError(f"extra_info must be a JSON object, got {type(extra_info).__name__}")
        step = entry.get("step")
        if step is not None and not isinstance(step, int):
            raise ValueError(f"step must be an integer, got {step!r}")
        return cls(
            data_source=entry["data_source"],
            row_id=str(entry["row_id"]),
            acc=float(entry["acc"]),
            score=float(entry["score"]),
            input=str(entry["input"]),
            output=str(entry["output"]),
            gts=entry.get("gts"),
            pred="" if entry.get("pred") is None else str(entry["pred"]),
            decoding=decoding,
            scorer=str(entry.get("scorer") or RULE_SCORER),
            step=step,
            extra_info=dict(extra_info),
        )

    def to_dump(self) -> dict:
        """The dump line for this generation (``from_dump``'s inverse)."""
        return {
            "input": self.input, "output": self.output, "gts": self.gts, "score": self.score, "step": self.step,
            "data_source": self.data_source, "row_id": self.row_id, "acc": self.acc, "pred": self.pred,
            "decoding": self.decoding, "scorer": self.scorer, "extra_info": dict(self.extra_info),
        }


def _check_counts(n, c, k) -> None:
    for name, value in (("n", n), ("c", c), ("k", k)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1 sample, got {n}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be in [0, n = {n}], got {c}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k = {k} > n = {n} samples: pass@k needs n >= k")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one prompt with c correct among n sampled responses (Chen et al. 2021):

        pass@k = 1 − C(n−c, k) / C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i)

    i.e. the probability that a uniformly random k-subset of the n responses holds a correct one. The
    product has c factors in [0, 1) and forms no binomial coefficient, so it neither overflows nor
    cancels for n in the thousands; it is 1 exactly when n − c < k. Needs 1 ≤ k ≤ n (ValueError otherwise).
    """
    _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_k_per_prompt(counts: Sequence[tuple[int, int]], k: int) -> list[float]:
    """``pass_at_k(n_j, c_j, k)`` for each prompt j, given its (n_j, c_j)."""
    return [pass_at_k(n, c, k) for n, c in counts]


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k of a benchmark: (1/m) Σ_j pass_at_k(n_j, c_j, k) over its m prompts."""
    if not counts:
        raise ValueError("pass@k of no prompts")
    return float(np.mean(pass_at_k_per_prompt(counts, k)))


def guesser_pass_at_k(answer_counts: Sequence[int], k: int) -> float:
    """pass@k of a guesser that samples uniformly among each prompt's K_j valid answers (a baseline that
    sees no image): (1/m) Σ_j [1 − (1 − 1/K_j)^k], the chance that k independent guesses hold the answer.

    >>> round(guesser_pass_at_k([36], 8), 4)
    0.2018
    """
    if not answer_counts or any(count < 1 for count in answer_counts) or k < 1:
        raise ValueError(f"guesser pass@k needs prompts with at least one answer and k >= 1, got k = {k}")
    return float(np.mean([1.0 - (1.0 - 1.0 / count) ** k for count in answer_counts]))


def _tie_weighted_subsets(others: Sequence[int], abstained: int, picks: int, cap: int) -> Fraction:
    """Σ over the ways to pick ``picks`` responses from the other answers (counts ``others``, at most
    ``cap`` of each) and from the ``abstained`` ones, of Π C(m, x) / (1 + #answers picked exactly ``cap``
    times) — the share of the vote a fixed answer with ``cap`` votes wins, ties split evenly."""
    ways = {(0, 0): 1}  # (responses picked, answers tied at cap) → number of subsets
    for count in others:
        grown: dict[tuple[int, int], int] = defaultdict(int)
        for (picked, ties), number in ways.items():
            for x in range(min(count, cap, picks - picked) + 1):
                grown[picked + x, ties + (x == cap)] += number * math.comb(count, x)
        ways = grown
    return sum(
        (Fraction(number * math.comb(abstained, picks - picked), 1 + ties) for (picked, ties), number in ways.items()),
        Fraction(0),
    )


def maj_at_k(preds: Sequence[str], accs: Sequence[float], k: int) -> float:
    """maj@k of one prompt: the expected accuracy of a majority vote over k of its n responses, averaged
    over ALL C(n, k) k-subsets (unbiased, like pass@k; not "the first k").

    The vote is over ``pred`` (the extracted answer); "" abstains. The answers with the most votes win,
    a t-way tie gives each 1/t; a subset with no vote scores 0. An answer a given by m_a of the n
    responses, r_a of them correct, counts r_a/m_a when it wins. Exactly (rational arithmetic):

        maj@k = Σ_a (r_a/m_a) Σ_{j≥1} C(m_a, j) · W_a(k − j, j) / C(n, k)

    where W_a(p, j) sums, over picks of p responses with every other answer at most j times, the number
    of such subsets divided by (1 + the number of other answers picked exactly j times).
    """
    if len(preds) != len(accs):
        raise ValueError(f"{len(preds)} preds for {len(accs)} accs")
    n = len(preds)
    _check_counts(n, 0, k)
    votes = Counter(preds)
    abstained = votes.pop("", 0)
    right = Counter(pred for pred, acc in zip(preds, accs) if acc == 1)
    answers = list(votes)
    credit = Fraction(0)
    for position, answer in enumerate(answers):
        if not right[answer]:
            continue
        others = [votes[other] for index, other in enumerate(answers) if index != position]
        wins = sum(
            (math.comb(votes[answer], j) * _tie_weighted_subsets(others, abstained, k - j, j)
             for j in range(1, min(votes[answer], k) + 1)),
            Fraction(0),
        )
        credit += Fraction(right[answer], votes[answer]) * wins
    return float(credit / math.comb(n, k))


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over prompts.

    Draws ``resamples`` samples of the m per-prompt values with replacement (numpy's PCG64 seeded with
    ``seed``), takes each one's mean, and returns the (1 − confidence)/2 and (1 + confidence)/2
    quantiles of those means (linear interpolation).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap interval of no values")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def _one_per_row(generations: Sequence[Generation], fields: Sequence[str]) -> list[tuple[Mapping, bool]]:
    """(extra_info, correct) per row, checking that each row appears once and carries ``fields``."""
    seen = set()
    rows = []
    for generation in generations:
        if generation.prompt in seen:
            raise ValueError(f"row {generation.row_id!r} of {generation.data_source} appears twice in one pass")
        seen.add(generation.prompt)
        missing = [name for name in fields if generation.extra_info.get(name) is None]
        if missing:
            raise ValueError(
                f"row {generation.row_id!r} of {generation.data_source} has no extra_info.{', extra_info.'.join(missing)}"
            )
        rows.append((generation.extra_info, generation.correct))
    if not rows:
        raise ValueError("no rows")
    return rows


def _accuracy_by(rows: Sequence[tuple[Mapping, bool]], name: str, order: Sequence[str] = ()) -> dict[str, float]:
    """``{f"{name}/{value}": accuracy}`` per value of extra_info[name]: the listed ``order`` first, then sorted."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for info, correct in rows:
        groups[str(info[name])].append(correct)
    values = [value for value in order if value in groups] + sorted(set(groups) - set(order))
    return {f"{name}/{value}": float(np.mean(groups[value])) for value in values}


def mathverse_metrics(generations: Sequence[Generation]) -> dict[str, float]:
    """MathVerse accuracy overall and per ``problem_version`` (one greedy response per row).

    acc = correct / rows; problem_version/<v> = correct / rows of version v, over its five versions
    (Text Dominant, Text Lite, Vision Intensive, Vision Dominant, Vision Only) — the per-version table
    of MathVerse's ``evaluation/score_answer_s2.py`` (github.com/ZrrSkywalker/MathVerse).
    """
    rows = _one_per_row(generations, BENCHMARK_FIELDS["mathverse"])
    return {"acc": float(np.mean([correct for _, correct in rows])), **_accuracy_by(rows, "problem_version", MATHVERSE_VERSIONS)}


def mathvista_metrics(generations: Sequence[Generation]) -> dict[str, float]:
    """MathVista accuracy overall, per ``task`` and per ``question_type`` (one response per row).

    Each is correct / rows within the group, as in MathVista's ``evaluation/calculate_score.py``
    (github.com/lupantech/MathVista), which reports the same per metadata key.
    """
    rows = _one_per_row(generations, BENCHMARK_FIELDS["mathvista"])
    return {
        "acc": float(np.mean([correct for _, correct in rows])),
        **_accuracy_by(rows, "task"),
        **_accuracy_by(rows, "question_type"),
    }


def wemath_metrics(generations: Sequence[Generation]) -> dict[str, float]:
    """WeMath's four-dimensional metrics over its multi-step problems (one response per row).

    A problem with s steps is a group of s one-step rows (``key`` "{s}steps_1" … "{s}steps_{s}") and the
    multi-step row ("{s}steps_multi"), sharing ``ID``. Over the G complete groups (incomplete ones are
    skipped and counted), with "subs" its one-step rows and "multi" its multi-step row:

        IK (insufficient knowledge)    = #{some sub wrong, multi wrong} / G
        IG (inadequate generalization) = #{all subs right, multi wrong} / G
        CM strict (complete mastery)   = #{all subs right, multi right} / G
        CM loose                       = #{some sub right, multi right} / G
        RM strict (rote memorization)  = #{some sub wrong, multi right} / #{multi right}
        RM loose                       = #{all subs wrong, multi right} / #{multi right}   (NaN if no multi right)
        score strict / loose           = (G − 0.5·#IG − #RM − #IK) / G   with #RM strict / loose
        S1 = accuracy over the one-step rows; S<s> = accuracy of the multi rows of s-step groups

    as in We-Math's ``evaluation/four_dimensional_metrics.py`` and ``accuracy.py``
    (github.com/We-Math/We-Math), whose G is testmini's 525 groups. ``acc`` is plain accuracy over rows.
    """
    rows = _one_per_row(generations, BENCHMARK_FIELDS["wemath"])
    groups: dict[tuple[int, str], dict[str, bool]] = defaultdict(dict)
    for info, correct in rows:
        match = _WEMATH_KEY.match(str(info["key"]))
        if match is None:
            raise ValueError(f"WeMath key {info['key']!r} is not '<s>steps_<i>' or '<s>steps_multi'")
        groups[int(match.group(1)), str(info["ID"])][match.group(2)] = correct
    complete = {
        group: parts for group, parts in groups.items()
        if set(parts) == {"multi", *map(str, range(1, group[0] + 1))}
    }
    if not complete:
        raise ValueError("no complete WeMath group (every '<s>steps_<i>' row and the '<s>steps_multi' row of one ID)")
    counts = Counter()
    subs_all, multi_by_steps = [], defaultdict(list)
    for (steps, _), parts in complete.items():
        subs = [parts[str(i)] for i in range(1, steps + 1)]
        multi = parts["multi"]
        subs_all += subs
        multi_by_steps[steps].append(multi)
        counts["IK"] += not all(subs) and not multi
        counts["IG"] += all(subs) and not multi
        counts["CM_strict"] += all(subs) and multi
        counts["CM_loose"] += any(subs) and multi
        counts["RM_strict"] += not all(subs) and multi
        counts["RM_loose"] += not any(subs) and multi
        counts["multi_right"] += multi
    total = len(complete)

    def rote(name: str) -> float:
        return counts[name] / counts["multi_right"] if counts["multi_right"] else math.nan

    def score(rote_count: int) -> float:
        return (total - 0.5 * counts["IG"] - rote_count - counts["IK"]) / total

    return {
        "acc": float(np.mean([correct for _, correct in rows])),
        "score_strict": score(counts["RM_strict"]),
        "score_loose": score(counts["RM_loose"]),
        "IK": counts["IK"] / total,
        "IG": counts["IG"] / total,
        "CM_strict": counts["CM_strict"] / total,
        "CM_loose": counts["CM_loose"] / total,
        "RM_strict": rote("RM_strict"),
        "RM_loose": rote("RM_loose"),
        "S1": float(np.mean(subs_all)),
        **{f"S{steps}": float(np.mean(multi_by_steps[steps])) for steps in sorted(multi_by_steps)},
        "groups": total,
        "incomplete_groups": len(groups) - total,
    }


def hallusionbench_metrics(generations: Sequence[Generation]) -> dict[str, float]:
    """HallusionBench's three accuracies (one response per question):

        aAcc = correct questions / questions
        fAcc = figures whose questions are all correct / figures; a figure is
               (category, subcategory, set_id, figure_id), VS questions with figure_id 0 (no figure) left out
        qAcc = question pairs all of whose figures' answers are correct / question pairs; a pair is
               (category, subcategory, set_id, question_id)

    as ``get_eval_all`` / ``get_eval_fig`` / ``get_eval_pair_all`` in HallusionBench's ``utils.py``
    (github.com/tianyi-lab/HallusionBench; named aAcc/fAcc/qAcc by lmms-eval's hallusion_bench task).
    """
    rows = _one_per_row(generations, BENCHMARK_FIELDS["hallusionbench"])
    figures: dict[tuple, list[bool]] = defaultdict(list)
    pairs: dict[tuple, list[bool]] = defaultdict(list)
    for info, correct in rows:
        category, subcategory, set_id = (str(info[name]) for name in ("category", "subcategory", "set_id"))
        figure_id = str(info["figure_id"])
        if not (category == "VS" and figure_id == "0"):
            figures[category, subcategory, set_id, figure_id].append(correct)
        pairs[category, subcategory, set_id, str(info["question_id"])].append(correct)
    return {
        "aAcc": float(np.mean([correct for _, correct in rows])),
        "fAcc": float(np.mean([all(answers) for answers in figures.values()])) if figures else math.nan,
        "qAcc": float(np.mean([all(answers) for answers in pairs.values()])),
        "questions": len(rows),
        "figures": len(figures),
        "question_pairs": len(pairs),
    }


BENCHMARK_METRICS: dict[str, Callable[[Sequence[Generation]], dict[str, float]]] = {
    "mathverse": mathverse_metrics,
    "mathvista": mathvista_metrics,
    "wemath": wemath_metrics,
    "hallusionbench": hallusionbench_metrics,
}
