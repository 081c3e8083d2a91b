"""The pre-registered analysis of the compose study (docs/study_exploration.md, "Study 2"), computed from the
committed per-run results alone.

    python bench/study_preregistered.py docs/study_compose [--out report.md] [--plot curves.png]

Every number comes from the per-prompt counts of each run's summary (``bench/study_exploration.py
--results-dir``): pass@k at each validation step is recomputed from the (samples, correct) counts with the
unbiased estimator and checked against the value the run recorded. A run's endpoint for a metric is its mean
over the validation steps after step 0. Each comparison A − B pairs the runs of the same seed (the seed fixes
the data order and ``vogue.seed``); the test is the two-sided paired t test with its 95 % interval, beside a
seeded percentile-bootstrap interval; Holm's correction runs over the comparisons of ``COMPARISONS`` whose two
arms both ran. The task-validity check (GRPO learns) is reported beside, outside the Holm family. Also printed,
descriptive: every arm's endpoints with 95 % t intervals over its seeds beside the uniform guesser; and,
exploratory, the per-step curves (``--plot`` draws them) and GRPO's final checkpoints sampled at other
temperatures.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import statistics
import sys
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import study_statistics as stats  # noqa: E402

from data_prep.synthetic import COMPOSE_ANSWERS  # noqa: E402
from recipe.vogue.evaluation.metrics import guesser_pass_at_k, mean_pass_at_k  # noqa: E402

# (name, arm A, arm B, metric) of A − B; the first is the primary endpoint. Fixed before the confirmatory runs.
COMPARISONS = (
    ("primary", "vogue", "entropy_only", "pass@8"),
    ("S1", "vogue", "grpo", "pass@8"),
    ("S2", "vogue", "grpo", "greedy_pass@1"),
    ("S3", "vogue", "entropy_only", "greedy_pass@1"),
    ("S4", "entropy_only", "grpo", "pass@8"),
    ("S5", "visual_only", "grpo", "pass@8"),
    ("S6", "noisyrollout", "grpo_n8", "pass@8"),
    ("S7", "vogue", "grpo", "pass@1"),
)
ALPHA = 0.05
LEARNING_ARM, LEARNING_RISE = "grpo", 0.05  # GRPO's pass@1 (greedy or sampled) must rise this much, CI above 0
KS = (1, 2, 4, 8, 16)
ARM_METRICS = ("pass@1", "pass@8", "pass@16", "greedy_pass@1")
CURVE_METRICS = ("pass@8", "greedy_pass@1")


class ResultsError(ValueError):
    """A results file that is not a study summary, or runs that cannot be compared."""


def load_summaries(folder: str) -> list[dict]:
    """Every ``*.json`` run summary in ``folder`` (``bench/study_exploration.py --results-dir``)."""
    paths = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not paths:
        raise ResultsError(f"{folder}: no run summaries (*.json)")
    summaries = []
    for path in paths:
        with open(path) as handle:
            try:
                summary = json.load(handle)
            except json.JSONDecodeError as error:
                raise ResultsError(f"{path}: not JSON ({error})") from None
        missing = {"method", "seed", "validation", "per_prompt"} - set(summary) if isinstance(summary, dict) else {"a JSON object"}
        if missing:
            raise ResultsError(f"{path}: not a study run summary (missing {sorted(missing)})")
        summaries.append({**summary, "path": path})
    return summaries


def recomputed_validation(summary: dict) -> dict[int, dict[str, float]]:
    """step → metric → value, from the per-prompt counts: pass@k (k ≤ samples per prompt) of the sampled
    responses and greedy pass@1; each checked against the value the run recorded (within 1e-9)."""
    sampled, greedy = summary["per_prompt"]["sampled"], summary["per_prompt"]["greedy"]
    values: dict[int, dict[str, float]] = {}
    for step, prompts in sampled.items():
        counts = list(prompts.values())
        samples = min(n for n, _ in counts)
        values[int(step)] = {f"pass@{k}": mean_pass_at_k(counts, k) for k in KS if k <= samples}
        if step in greedy:
            values[int(step)]["greedy_pass@1"] = mean_pass_at_k(list(greedy[step].values()), 1)
    for step, metrics in values.items():
        recorded = summary["validation"].get(str(step), {})
        for metric, value in metrics.items():
            if metric in recorded and not math.isclose(value, recorded[metric], abs_tol=1e-9):
                raise ResultsError(f"{summary['path']}: step {step} {metric} recorded {recorded[metric]!r}, "
                                   f"the per-prompt counts give {value!r}")
    return values


def endpoint(validation: dict[int, dict[str, float]], metric: str) -> float:
    """The mean of ``metric`` over the validation steps after step 0."""
    later = [values[metric] for step, values in sorted(validation.items()) if step > 0]
    if not later:
        raise ResultsError(f"no validation step after step 0 holds {metric}")
    return statistics.fmean(later)


def runs_by_arm(summaries: Sequence[dict]) -> dict[str, dict[int, dict[int, dict[str, float]]]]:
    """arm → seed → recomputed validation; every run must share the same validation steps."""
    arms: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
    steps = None
    for summary in summaries:
        validation = recomputed_validation(summary)
        if steps is not None and sorted(validation) != steps:
            raise ResultsError(f"{summary['path']}: validation steps {sorted(validation)}, other runs have {steps}")
        steps = sorted(validation)
        if summary["seed"] in arms.setdefault(summary["method"], {}):
            raise ResultsError(f"{summary['path']}: a second run of {summary['method']} seed {summary['seed']}")
        arms[summary["method"]][summary["seed"]] = validation
    return arms


def paired_differences(arms: dict, a: str, b: str, metric: str) -> list[float]:
    """endpoint(A, s) − endpoint(B, s) over the seeds both arms ran, in seed order."""
    seeds = sorted(set(arms.get(a, {})) & set(arms.get(b, {})))
    return [endpoint(arms[a][seed], metric) - endpoint(arms[b][seed], metric) for seed in seeds]


def t_interval(differences: Sequence[float]) -> tuple[float, float]:
    """mean ± t_{0.975, n−1} · sd/√n."""
    mean, n = statistics.fmean(differences), len(differences)
    half = stats.student_t_quantile(1 - (1 - stats.CONFIDENCE) / 2, n - 1) * statistics.stdev(differences) / math.sqrt(n)
    return mean - half, mean + half


def analyse(summaries: Sequence[dict]) -> dict:
    """The pre-registered comparisons (with Holm over those that ran) and the learning check."""
    arms = runs_by_arm(summaries)
    rows = []
    for name, a, b, metric in COMPARISONS:
        differences = paired_differences(arms, a, b, metric)
        row = {"name": name, "a": a, "b": b, "metric": metric, "seeds": len(differences)}
        if len(differences) >= 2:
            comparison = stats.compare(differences)
            row.update(mean=comparison.mean, t_ci=t_interval(differences), bootstrap_ci=(comparison.low, comparison.high),
                       p=comparison.p, differences=differences)
        rows.append(row)
    adjusted = stats.holm({row["name"]: row["p"] for row in rows if "p" in row})
    for row in rows:
        if "p" in row:
            row["holm_p"] = adjusted[row["name"]]
            row["holds"] = row["holm_p"] < ALPHA
    return {"comparisons": rows, "learning": learning_check(arms), "arms": {arm: sorted(seeds) for arm, seeds in arms.items()},
            "endpoints": arm_endpoints(arms), "curves": curves(arms), "temperatures": temperature_sweep(summaries)}


def learning_check(arms: dict) -> dict[str, dict]:
    """GRPO's rise from step 0 to its last validation step, greedy and sampled pass@1, over its seeds: the task
    passes when either rise has mean ≥ ``LEARNING_RISE`` and its 95 % t interval above 0."""
    results = {}
    for metric in ("greedy_pass@1", "pass@1"):
        rises = [runs[max(runs)][metric] - runs[0][metric] for runs in arms.get(LEARNING_ARM, {}).values()]
        if len(rises) >= 2:
            low, high = t_interval(rises)
            results[metric] = {"mean": statistics.fmean(rises), "t_ci": (low, high), "seeds": len(rises),
                               "passes": statistics.fmean(rises) >= LEARNING_RISE and low > 0}
    return results


def mean_and_interval(values: Sequence[float]) -> tuple[float, tuple[float, float] | None]:
    """The mean and its 95 % t interval (None for a single value)."""
    return statistics.fmean(values), (t_interval(values) if len(values) >= 2 else None)


def arm_endpoints(arms: dict) -> dict[str, dict[str, tuple]]:
    """arm → metric → (mean endpoint over its seeds, 95 % t interval)."""
    return {arm: {metric: mean_and_interval([endpoint(runs[seed], metric) for seed in sorted(runs)])
                  for metric in ARM_METRICS}
            for arm, runs in sorted(arms.items())}


def curves(arms: dict) -> dict[str, dict[str, list[tuple]]]:
    """arm → metric → [(step, mean over seeds, 95 % t interval)] at every validation step."""
    result = {}
    for arm, runs in sorted(arms.items()):
        steps = sorted(next(iter(runs.values())))
        result[arm] = {metric: [(step, *mean_and_interval([runs[seed][step][metric] for seed in sorted(runs)]))
                                for step in steps] for metric in CURVE_METRICS}
    return result


def temperature_sweep(summaries: Sequence[dict]) -> dict[str, dict[str, tuple]]:
    """temperature → metric → (mean over the runs that sampled at it, 95 % t interval), pass@k recomputed from
    each run's per-prompt counts of its final checkpoint (``--temperatures``)."""
    values: dict[str, dict[str, list[float]]] = {}
    for summary in summaries:
        for temperature, result in summary.get("temperature", {}).items():
            counts = list(result["per_prompt"].values())
            samples = min(n for n, _ in counts)
            for k in KS:
                if k <= samples:
                    values.setdefault(temperature, {}).setdefault(f"pass@{k}", []).append(mean_pass_at_k(counts, k))
    return {temperature: {metric: mean_and_interval(found) for metric, found in metrics.items()}
            for temperature, metrics in sorted(values.items(), key=lambda item: float(item[0]))}


def _k(metric: str) -> int:
    """The k of ``pass@k`` (1 for ``greedy_pass@1``)."""
    return int(metric.split("@")[1])


def guesser(metric: str) -> float:
    """The uniform guesser's value of ``metric`` over the compose task's answers."""
    return guesser_pass_at_k([len(COMPOSE_ANSWERS)], _k(metric))


def _value(mean: float, interval: tuple[float, float] | None) -> str:
    return f"{mean:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"


def render(analysis: dict) -> str:
    guessed = " · ".join(f"pass@{k} {guesser(f'pass@{k}'):.3f}" for k in KS)
    lines = [f"Runs: " + "; ".join(f"{arm} seeds {seeds}" for arm, seeds in sorted(analysis["arms"].items())),
             f"Uniform guesser (no image, {len(COMPOSE_ANSWERS)} answers): {guessed}.", "",
             "| comparison | A − B (endpoint: mean over validation steps after 0) | seeds | mean | 95 % CI (t) "
             "| 95 % CI (bootstrap) | p | Holm p | holds at α = 0.05 |", "|---" * 9 + "|"]
    for row in analysis["comparisons"]:
        label = f"{row['a']} − {row['b']}, {row['metric']}"
        if "p" not in row:
            lines.append(f"| {row['name']} | {label} | {row['seeds']} | {'not run' if not row['seeds'] else 'too few seeds'} | | | | | |")
            continue
        lines.append(f"| {row['name']} | {label} | {row['seeds']} | {row['mean']:+.3f} | {_ci(row['t_ci'])} "
                     f"| {_ci(row['bootstrap_ci'])} | {row['p']:.3f} | {row['holm_p']:.3f} | {'yes' if row['holds'] else 'no'} |")
    lines += ["", f"Task validity ({LEARNING_ARM} learns: rise from step 0 to the last step ≥ {LEARNING_RISE}, CI above 0):"]
    for metric, result in analysis["learning"].items():
        lines.append(f"- {metric}: {result['mean']:+.3f} {_ci(result['t_ci'])} over {result['seeds']} seeds — "
                     + ("passes" if result["passes"] else "fails"))
    lines += ["", "Every arm, endpoint (mean over validation steps after 0), mean over seeds [95 % t interval]:", "",
              "| arm | seeds | " + " | ".join(ARM_METRICS) + " |", "|---" * (2 + len(ARM_METRICS)) + "|"]
    for arm, metrics in analysis["endpoints"].items():
        lines.append(f"| {arm} | {len(analysis['arms'][arm])} | " + " | ".join(_value(*metrics[m]) for m in ARM_METRICS) + " |")
    lines.append("| uniform guesser (no image) | — | " + " | ".join(f"{guesser(m):.3f}" for m in ARM_METRICS) + " |")
    for metric in CURVE_METRICS:
        steps = [step for step, *_ in next(iter(analysis["curves"].values()))[metric]]
        lines += ["", f"Exploratory: {metric} at each validation step, mean over seeds [95 % t interval]:", "",
                  "| arm | " + " | ".join(f"step {step}" for step in steps) + " |", "|---" * (1 + len(steps)) + "|"]
        for arm, by_metric in analysis["curves"].items():
            lines.append(f"| {arm} | " + " | ".join(_value(mean, interval) for _, mean, interval in by_metric[metric]) + " |")
    if analysis["temperatures"]:
        metrics = sorted({m for values in analysis["temperatures"].values() for m in values}, key=_k)
        lines += ["", f"Exploratory: {LEARNING_ARM}'s final checkpoints sampled at each temperature, mean over seeds "
                      "[95 % t interval]:", "", "| T | " + " | ".join(metrics) + " |", "|---" * (1 + len(metrics)) + "|"]
        for temperature, values in analysis["temperatures"].items():
            lines.append(f"| {temperature} | " + " | ".join(_value(*values[m]) for m in metrics) + " |")
    return "\n".join(lines) + "\n"


def plot(analysis: dict, path: str) -> None:
    """The curves: each arm's mean over seeds with its 95 % t band, one panel per ``CURVE_METRICS``, the uniform
    guesser's value dashed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * len(CURVE_METRICS), 3.6))
    for axes, metric in zip(figure.subplots(1, len(CURVE_METRICS)), CURVE_METRICS, strict=True):
        for arm, by_metric in analysis["curves"].items():
            points = by_metric[metric]
            steps, means = [step for step, _, _ in points], [mean for _, mean, _ in points]
            line, = axes.plot(steps, means, marker="o", label=f"{arm} ({len(analysis['arms'][arm])})")
            if all(interval for _, _, interval in points):
                axes.fill_between(steps, [i[0] for _, _, i in points], [i[1] for _, _, i in points], alpha=0.15,
                                  color=line.get_color())
        axes.axhline(guesser(metric), linestyle="--", color="grey", label="guesser")
        axes.set_xlabel("step")
        axes.set_ylim(0, 1)  # a t band over 2–3 seeds can reach beyond the possible values
        axes.set_title(metric)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/study_preregistered.py", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the folder of run summaries (bench/study_exploration.py --results-dir)")
    parser.add_argument("--out", help="also write the markdown here")
    parser.add_argument("--plot", help="draw the curves (PNG) here")
    args = parser.parse_args(argv)
    try:
        analysis = analyse(load_summaries(args.results))
        text = render(analysis)
        if args.plot:
            plot(analysis, args.plot)
    except (ResultsError, OSError) as error:
        print(f"study_preregistered: {error}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
