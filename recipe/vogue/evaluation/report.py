"""``python -m recipe.vogue.report [LABEL=]PATH ... --out DIR``: evaluation tables and training curves.

Each input is a jsonl file or a directory searched recursively for ``*.jsonl``; LABEL defaults to the
file's stem or the directory's name. A file is read by its first line as either
- an evaluation dump: one scored generation per line (``recipe.vogue.evaluation.metrics``'s schema), or
- a verl file-logger log (``trainer.logger`` including ``file``): ``{"step": s, "data": {metric: value}}``.

DIR receives report.md, report.csv (one number per line: run, benchmark, metric, value, interval,
counts, scorer) and PNGs: curves.png (training metrics, every run on the same axes, one colour per
run) and pass_at_k.png (overall pass@k against k). Table rows are runs; a run whose dumps hold several
``step`` values gets one row per step (checkpoint). Pure: numpy and matplotlib (Agg, no pyplot state).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from recipe.vogue.evaluation.metrics import (
    BENCHMARK_METRICS,
    GREEDY,
    SAMPLED,
    Generation,
    bootstrap_ci,
    maj_at_k,
    pass_at_k_per_prompt,
)
from recipe.vogue.evaluation.judge import JudgeClient, JudgeError, judge_generations

__all__ = ["ReportInputError", "Run", "load_run", "write_report", "style_step_panel", "hide_unused", "main"]

MATH_BENCHMARKS = ("mathverse", "mathvista", "wemath")
GENERAL_BENCHMARKS = ("hallusionbench", "chartqa", "logicvista")
PAPER_BENCHMARKS = MATH_BENCHMARKS + GENERAL_BENCHMARKS
DISPLAY_NAMES = {
    "mathverse": "MathVerse", "mathvista": "MathVista", "wemath": "WeMath",
    "hallusionbench": "HallusionBench", "chartqa": "ChartQA", "logicvista": "LogicVista",
}
AVERAGES = (("math avg", MATH_BENCHMARKS), ("general avg", GENERAL_BENCHMARKS), ("overall avg", PAPER_BENCHMARKS))
CURVES = (  # (file-logger metric, panel title)
    ("critic/score/mean", "reward (score)"),
    ("actor/entropy", "entropy (actor)"),
    ("vogue/entropy_raw_mean", "entropy, raw image"),
    ("vogue/entropy_noisy_mean", "entropy, noisy image"),
    ("vogue/u_per_token_mean", "u_per"),
    ("vogue/g_out_mean", "g_out"),
    ("vogue/g_per_mean", "g_per"),
    ("vogue/noisy_frac", "noisy-branch fraction"),
    ("response_length/mean", "response length"),
)
VALIDATION_PREFIX = "val-core/"
# METHOD.md §8: paper v3 Table 1, pass@1 (%) on the six benchmarks in PAPER_BENCHMARKS order, and avg
PAPER_TABLE_1 = (
    ("Qwen2.5-VL-3B", (34.0, 58.4, 51.8, 59.9, 73.1, 38.0), 52.5),
    ("Qwen2.5-VL-3B + GRPO", (40.6, 66.4, 60.8, 65.5, 77.6, 39.3), 58.4),
    ("Qwen2.5-VL-3B + NoisyRollout", (41.8, 67.7, 62.0, 66.1, 77.7, 42.3), 59.6),
    ("Qwen2.5-VL-3B + VOGUE/DUPL", (43.3, 69.4, 64.1, 67.0, 78.4, 45.0), 61.2),
    ("Qwen2.5-VL-7B", (45.8, 67.2, 63.2, 65.2, 79.8, 45.5), 61.1),
    ("Qwen2.5-VL-7B + GRPO", (48.0, 70.6, 68.5, 68.6, 81.5, 46.0), 63.9),
    ("Qwen2.5-VL-7B + NoisyRollout", (51.0, 72.6, 69.6, 70.1, 81.8, 47.5), 65.4),
    ("Qwen2.5-VL-7B + VOGUE/DUPL", (52.1, 74.2, 71.1, 71.0, 84.0, 48.7), 66.9),
)
PAPER_SCORER = "judge:Qwen2.5-72B (paper)"
GREEDY_METRIC = "pass@1 (greedy)"
CSV_COLUMNS = ("run", "benchmark", "metric", "value", "ci_low", "ci_high", "prompts", "samples", "scored_by", "note")


class ReportInputError(ValueError):
    """An input that cannot be read; the message names the file (and line)."""


@dataclass
class Run:
    """One input: its scored generations and its training curves (metric → [(step, value)])."""

    label: str
    generations: list[Generation] = field(default_factory=list)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    decoding: dict[str, dict] = field(default_factory=dict)  # pass → {n, temperature, top_p} (evaluate's settings.json)


@dataclass(frozen=True)
class Cell:
    """One number of the report (a fraction), its interval, what it counts and who scored it."""

    value: float
    low: float | None = None
    high: float | None = None
    prompts: int = 0
    samples: int = 0
    scorer: str = ""
    note: str = ""


@dataclass
class Row:
    label: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (metric, benchmark) → Cell
    native: dict[str, tuple[str, str, dict]] = field(default_factory=dict)  # benchmark → (decoding, scorer, metrics)
    notes: list[str] = field(default_factory=list)
    reference: bool = False  # a row quoted from the paper, not computed


def parse_input(argument: str) -> tuple[str, Path]:
    """``[LABEL=]PATH`` → (label, path); an existing path containing "=" is taken whole."""
    label, path = "", argument
    if "=" in argument and not os.path.exists(argument):
        label, path = argument.split("=", 1)
    resolved = Path(path)
    if not resolved.exists():
        raise ReportInputError(f"{path}: no such file or directory")
    return label or (resolved.stem if resolved.is_file() else resolved.resolve().name), resolved


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _add_log_line(curves: dict, entry, where: str) -> None:
    if not (isinstance(entry, dict) and isinstance(entry.get("step"), int) and isinstance(entry.get("data"), dict)):
        raise ReportInputError(f"{where}: not a file-logger line {{\"step\": int, \"data\": {{...}}}}")
    for metric, value in entry["data"].items():
        if _is_number(value) and math.isfinite(value):
            curves[metric].append((entry["step"], float(value)))


def _kind(entry, where: str) -> str:
    if isinstance(entry, dict) and "step" in entry and "data" in entry:
        return "log"
    if isinstance(entry, dict) and "output" in entry:
        return "dump"
    raise ReportInputError(
        f"{where}: neither an evaluation dump line (input, output, score, data_source, row_id, acc, …) "
        "nor a file-logger line (step, data)"
    )


def _check_one_run(path: Path, sources: dict) -> None:
    """A run answers each prompt once per decoding and step from ONE file (a shard, a pass, a checkpoint); a key
    from several files means several runs under one folder, which would be merged into one number."""
    clashes = sorted({tuple(sorted(map(str, files))) for files in sources.values() if len(files) > 1})
    if clashes:
        listed = "; ".join(" and ".join(files) for files in clashes[:3])
        raise ReportInputError(f"{path}: several runs answer the same prompts at the same step ({listed}"
                               f"{f'; {len(clashes) - 3} more' if len(clashes) > 3 else ''}): pass each run as its own "
                               "LABEL=PATH")


def load_run(label: str, path: Path) -> Run:
    """All dumps and logs under ``path`` as one run; ReportInputError names the file and line at fault, or
    the files of several runs found under one folder."""
    files = [path] if path.is_file() else sorted(path.rglob("*.jsonl"))
    if not files:
        raise ReportInputError(f"{path}: no .jsonl files")
    run = Run(label)
    sources: dict[tuple, set[Path]] = defaultdict(set)
    for file in files:
        kind = None
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ReportInputError(f"{file}: cannot read ({error})") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise ReportInputError(f"{where}: not JSON ({error.msg})") from None
            kind = kind or _kind(entry, where)
            if kind == "log":
                _add_log_line(run.curves, entry, where)
                continue
            try:
                generation = Generation.from_dump(entry)
            except ValueError as error:
                raise ReportInputError(f"{where}: {error}") from None
            run.generations.append(generation)
            sources[generation.prompt, generation.decoding, generation.step].add(file)
        if kind is None:
            raise ReportInputError(f"{file}: empty file")
    _check_one_run(path, sources)
    settings = path / "settings.json" if path.is_dir() else None
    if settings is not None and settings.is_file():
        try:
            run.decoding = json.loads(settings.read_text(encoding="utf-8")).get("passes", {})
        except (json.JSONDecodeError, AttributeError) as error:
            raise ReportInputError(f"{settings}: not evaluate's settings ({error})") from None
    return run


def _by_prompt(generations: Sequence[Generation]) -> dict[tuple[str, str], list[Generation]]:
    groups: dict[tuple[str, str], list[Generation]] = defaultdict(list)
    for generation in generations:
        groups[generation.prompt].append(generation)
    return groups


def _scorers(labels) -> str:
    """"rule", "judge:m" or "judge:m+rule": every scorer behind a number (labels may already be joined)."""
    return "+".join(sorted({part for label in labels for part in label.split("+")}))


def _cell(values: Sequence[float], prompts: dict, settings: dict) -> Cell:
    low, high = bootstrap_ci(values, **settings)
    generations = [generation for group in prompts.values() for generation in group]
    return Cell(float(np.mean(values)), low, high, len(prompts), len(generations), _scorers(g.scorer for g in generations))


def fewest_samples(generations: Sequence[Generation]) -> int:
    """The fewest sampled responses of any prompt (0 without sampled responses): the largest estimable k."""
    sampled = _by_prompt([generation for generation in generations if generation.decoding == SAMPLED])
    return min((len(group) for group in sampled.values()), default=0)


def benchmark_cells(generations: Sequence[Generation], ks: Sequence[int], settings: dict) -> dict[str, Cell]:
    """pass@1 (greedy), pass@k and maj@k (sampled) of one benchmark in one row, metric → Cell."""
    cells = {}
    greedy = _by_prompt([generation for generation in generations if generation.decoding == GREEDY])
    if greedy:
        accuracy = [float(np.mean([generation.acc for generation in group])) for group in greedy.values()]
        cells[GREEDY_METRIC] = _cell(accuracy, greedy, settings)
    sampled = _by_prompt([generation for generation in generations if generation.decoding == SAMPLED])
    fewest = fewest_samples(generations)
    counts = [(len(group), sum(generation.correct for generation in group)) for group in sampled.values()]
    for k in ks:
        if k > fewest:
            continue
        cells[f"pass@{k} (sampled)"] = _cell(pass_at_k_per_prompt(counts, k), sampled, settings)
        if k >= 2:
            votes = [maj_at_k([g.pred for g in group], [g.acc for g in group], k) for group in sampled.values()]
            cells[f"maj@{k} (sampled)"] = _cell(votes, sampled, settings)
    return cells


def average_cells(cells: dict[str, Cell]) -> dict[str, Cell]:
    """The paper's unweighted means over benchmarks of one metric: math, general, and overall (every
    benchmark of the row). The note lists the benchmarks averaged; "partial" when not the paper's set."""
    averages = {}
    for name, group in AVERAGES:
        members = [benchmark for benchmark in cells if name == "overall avg" or benchmark in group]
        if not members:
            continue
        partial = set(members) != set(group)
        averages[name] = Cell(
            float(np.mean([cells[benchmark].value for benchmark in members])),
            prompts=sum(cells[benchmark].prompts for benchmark in members),
            samples=sum(cells[benchmark].samples for benchmark in members),
            scorer=_scorers(cells[benchmark].scorer for benchmark in members),
            note="mean of " + "+".join(members) + (" (partial)" if partial else ""),
        )
    return averages


def _mean_metrics(draws: Sequence[dict]) -> dict:
    """Element-wise mean of metric dicts (NaN-skipping); integer counts are taken from the first."""
    merged = {}
    for name, first in draws[0].items():
        values = [draw[name] for draw in draws if not (isinstance(draw[name], float) and math.isnan(draw[name]))]
        merged[name] = first if isinstance(first, int) else (float(np.mean(values)) if values else math.nan)
    return merged


def native_metrics(generations: Sequence[Generation], metric) -> tuple[str, str, dict]:
    """(decoding, scorer, metrics): a benchmark's own metrics on the greedy pass (its first response per
    row); without one, on the sampled pass: the mean over draws j = 1..n of the metrics of every row's
    j-th response."""
    greedy = _by_prompt([generation for generation in generations if generation.decoding == GREEDY])
    if greedy:
        used = [group[0] for group in greedy.values()]
        return GREEDY, _scorers(g.scorer for g in used), metric(used)
    sampled = _by_prompt(generations)  # no greedy pass: all are sampled
    draws = min(len(group) for group in sampled.values())
    results = [metric([group[j] for group in sampled.values()]) for j in range(draws)]
    return f"sampled, mean over {draws} draws", _scorers(g.scorer for g in generations), _mean_metrics(results)


def build_row(label: str, generations: Sequence[Generation], ks: Sequence[int], settings: dict) -> Row:
    row = Row(label)
    by_benchmark: dict[str, list[Generation]] = defaultdict(list)
    for generation in generations:
        by_benchmark[generation.data_source].append(generation)
    per_metric: dict[str, dict[str, Cell]] = defaultdict(dict)
    for benchmark in _benchmark_order(by_benchmark):
        for metric, cell in benchmark_cells(by_benchmark[benchmark], ks, settings).items():
            per_metric[metric][benchmark] = cell
        fewest = fewest_samples(by_benchmark[benchmark])
        beyond = [str(k) for k in ks if k > fewest]
        if fewest and beyond:
            row.notes.append(f"{label}: pass@k and maj@k for k = {', '.join(beyond)} not estimable on "
                             f"{DISPLAY_NAMES.get(benchmark, benchmark)} (n = {fewest})")
        if benchmark in BENCHMARK_METRICS:
            try:
                row.native[benchmark] = native_metrics(by_benchmark[benchmark], BENCHMARK_METRICS[benchmark])
            except ValueError as error:
                row.notes.append(f"{label}: no {DISPLAY_NAMES[benchmark]} metrics ({error})")
    for metric, cells in per_metric.items():
        for benchmark, cell in {**cells, **average_cells(cells)}.items():
            row.cells[metric, benchmark] = cell
    return row


def reference_rows() -> list[Row]:
    """The paper's Table 1 as rows of the pass@1 (greedy) table, scored by the authors' judge."""
    rows = []
    for model, values, average in PAPER_TABLE_1:
        row = Row(f"paper Table 1: {model}", reference=True)
        cells = {benchmark: Cell(value / 100, scorer=PAPER_SCORER) for benchmark, value in zip(PAPER_BENCHMARKS, values)}
        averages = average_cells(cells)
        averages["overall avg"] = Cell(average / 100, scorer=PAPER_SCORER, note="the paper's avg")
        for benchmark, cell in {**cells, **averages}.items():
            row.cells[GREEDY_METRIC, benchmark] = cell
        rows.append(row)
    return rows


def _benchmark_order(benchmarks) -> list[str]:
    return [name for name in PAPER_BENCHMARKS if name in benchmarks] + sorted(set(benchmarks) - set(PAPER_BENCHMARKS))


def _metric_order(metrics) -> list[str]:
    def key(metric: str):
        if metric == GREEDY_METRIC:
            return (0, 0, 0)
        kind, k = re.match(r"(pass|maj)@(\d+)", metric).groups()
        return (1, int(k), kind == "maj")
    return sorted(set(metrics), key=key)


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.1f}"


def _markdown_cell(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    text = _percent(cell.value) + ("*" if cell.note.endswith("(partial)") else "")
    return text if cell.low is None else f"{text} [{_percent(cell.low)}, {_percent(cell.high)}]"


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(line) + " |" for line in lines]


def _row_scorer(row: Row, metric: str) -> str:
    return _scorers(cell.scorer for (name, _), cell in row.cells.items() if name == metric)


def _explanation(settings: dict) -> list[str]:
    confidence = round(100 * settings["confidence"])
    return [
        "How the numbers are made (all in %):",
        "",
        "- **scored by**: `rule` = vogue_reward's rule-based verifiers (the default); `judge:<model>` = an LLM "
        "judge (`recipe/vogue/evaluation/judge.py`); the paper's rows were scored by the authors' Qwen2.5-72B judge.",
        "- **pass@1 (greedy)**: mean over prompts of the greedy response's accuracy.",
        "- **pass@k (sampled)**: the unbiased estimator 1 − C(n−c, k)/C(n, k) per prompt (n sampled responses, "
        "c correct), averaged over prompts; a k above a prompt's n leaves the cell empty.",
        "- **maj@k (sampled)**: accuracy of a majority vote over the extracted answers of k of the n responses, "
        "averaged over all k-subsets (ties split evenly; no answer = no vote).",
        f"- **[low, high]**: {confidence}% percentile bootstrap interval over prompts ({settings['resamples']} "
        f"resamples, seed {settings['seed']}).",
        "- **averages**: unweighted means over benchmarks, math = MathVerse, MathVista, WeMath; general = "
        "HallusionBench, ChartQA, LogicVista; overall = every benchmark of the row. * = not the paper's set of "
        "benchmarks. Averages have no interval.",
    ]


def protocol_lines(metric: str, runs: Sequence[Run], reference: bool) -> list[str]:
    """What a table's numbers were measured under: each run's decoding (from evaluate's settings.json) and the
    benchmarks' splits (extra_info.split); the scorer is the table's last column."""
    decoding = GREEDY if metric == GREEDY_METRIC else SAMPLED
    settings = []
    for run in runs:
        used = run.decoding.get(decoding)
        settings.append(f"{run.label}: " + (f"T = {used['temperature']:g}, top-p = {used['top_p']:g}, n = {used['n']}"
                                            if used else "not recorded (no evaluate settings.json)"))
    if reference:
        settings.append("paper Table 1: greedy (METHOD.md §8)")
    splits = defaultdict(set)
    for run in runs:
        for generation in run.generations:
            splits[DISPLAY_NAMES.get(generation.data_source, generation.data_source)].add(
                str((generation.extra_info or {}).get("split") or "?"))
    return [f"Decoding ({decoding}): " + "; ".join(settings) + ".",
            "Splits: " + "; ".join(f"{name} {'/'.join(sorted(found))}" for name, found in sorted(splits.items())) + ".",
            "Scorer: the last column.", ""]


def render_markdown(rows: Sequence[Row], runs: Sequence[Run], settings: dict, images: Sequence[str], notes: Sequence[str]) -> str:
    benchmarks = _benchmark_order({benchmark for row in rows for (_, benchmark) in row.cells} - {name for name, _ in AVERAGES})
    columns = benchmarks + [name for name, _ in AVERAGES]
    lines = ["# Evaluation report", ""]
    lines += [f"Runs: {', '.join(f'{run.label} ({len(run.generations)} generations, {len(run.curves)} logged metrics)' for run in runs)}.", ""]
    lines += _explanation(settings) + [""]
    for metric in _metric_order(metric for row in rows for metric, _ in row.cells):
        table_rows = [row for row in rows if any(name == metric for name, _ in row.cells)]
        header = ["run", *(DISPLAY_NAMES.get(name, name) for name in columns), "scored by"]
        body = [[row.label, *(_markdown_cell(row.cells.get((metric, name))) for name in columns), _row_scorer(row, metric)]
                for row in table_rows]
        lines += [f"## {metric}", ""] + protocol_lines(metric, runs, any(row.reference for row in table_rows))
        lines += _table(header, body) + [""]
    lines += _counts_section(rows, benchmarks)
    for benchmark in [name for name in BENCHMARK_METRICS if any(name in row.native for row in rows)]:
        lines += _native_section(rows, benchmark)
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    lines += ["## Curves", ""] + ([f"![{image}]({image})" for image in images] or ["No training logs or sampled passes given."])
    return "\n".join(lines) + "\n"


def _counts_section(rows: Sequence[Row], benchmarks: Sequence[str]) -> list[str]:
    body = []
    for row in (row for row in rows if not row.reference):
        for benchmark in benchmarks:
            cells = {metric: cell for (metric, name), cell in row.cells.items() if name == benchmark}
            if not cells:
                continue
            greedy = cells.get(GREEDY_METRIC)
            sampled = next((cell for metric, cell in cells.items() if metric != GREEDY_METRIC), None)
            body.append([
                row.label, DISPLAY_NAMES.get(benchmark, benchmark),
                str(greedy.prompts) if greedy else "—",
                str(sampled.prompts) if sampled else "—",
                str(sampled.samples) if sampled else "—",
                _scorers(cell.scorer for cell in cells.values()),
            ])
    return ["## Counts", ""] + _table(["run", "benchmark", "prompts (greedy)", "prompts (sampled)", "sampled responses", "scored by"], body) + [""]


def _native_value(value) -> str:
    return str(value) if isinstance(value, int) else _percent(value)


def _native_section(rows: Sequence[Row], benchmark: str) -> list[str]:
    present = [(row.label, *row.native[benchmark]) for row in rows if benchmark in row.native]
    names = list(dict.fromkeys(name for *_, metrics in present for name in metrics))
    body = [[label, decoding, *(_native_value(metrics.get(name, math.nan)) for name in names), scorer]
            for label, decoding, scorer, metrics in present]
    title = f"## {DISPLAY_NAMES[benchmark]}: the benchmark's own metrics (% unless a count)"
    return [title, "", *_table(["run", "decoding", *names, "scored by"], body), ""]


def _csv_number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value) if isinstance(value, int) else f"{value:.6f}"


def write_csv(rows: Sequence[Row], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            names = _benchmark_order({name for _, name in row.cells} - {name for name, _ in AVERAGES}) + [name for name, _ in AVERAGES]
            for metric in _metric_order(metric for metric, _ in row.cells):
                for benchmark in names:
                    cell = row.cells.get((metric, benchmark))
                    if cell is not None:
                        counts = ["", ""] if row.reference else [cell.prompts, cell.samples]
                        writer.writerow([row.label, benchmark, metric, _csv_number(cell.value), _csv_number(cell.low),
                                         _csv_number(cell.high), *counts, cell.scorer, cell.note])
            for benchmark, (decoding, scorer, metrics) in row.native.items():
                for name, value in metrics.items():
                    writer.writerow([row.label, benchmark, name, _csv_number(value), "", "", "", "", scorer, decoding])


def style_step_panel(axis, title: str) -> None:
    """One panel of curves against the training step: small title, step axis, ticks and a light grid."""
    axis.set_title(title, fontsize=9)
    axis.set_xlabel("step", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.grid(alpha=0.3)


def hide_unused(axes) -> None:
    """Switch off the panels an iterator over a figure's axes has not handed out (the grid's empty cells)."""
    for axis in axes:
        axis.axis("off")


def plot_curves(runs: Sequence[Run], path: Path) -> bool:
    """curves.png: one panel per training metric logged by any run, one colour per run. False if none."""
    logged = {metric for run in runs for metric in run.curves}
    panels = [(metric, title) for metric, title in CURVES if metric in logged]
    panels += [(metric, metric) for metric in sorted(logged) if metric.startswith(VALIDATION_PREFIX) and not metric.endswith("/std")]
    if not panels:
        return False
    columns = min(3, len(panels))
    figure = Figure(figsize=(4.2 * columns, 3.0 * math.ceil(len(panels) / columns) + 0.4))
    axes = figure.subplots(math.ceil(len(panels) / columns), columns, squeeze=False).flat
    colours = colormaps["tab10"]
    for (metric, title), axis in zip(panels, axes):  # panels first: zip must not draw an extra axis
        for index, run in enumerate(runs):
            points = sorted(run.curves.get(metric, []))
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, color=colours(index % 10), marker="o" if len(points) <= 30 else None, markersize=3)
        style_step_panel(axis, title)
    hide_unused(axes)
    handles = [Line2D([], [], color=colours(index % 10), label=run.label) for index, run in enumerate(runs)]
    figure.legend(handles=handles, loc="upper center", ncol=min(len(runs), 6), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / figure.get_figheight()))
    figure.savefig(path, dpi=100)
    return True


def plot_pass_at_k(rows: Sequence[Row], path: Path) -> bool:
    """pass_at_k.png: each row's overall-average pass@k (sampled) against k. False if no row has one."""
    figure = Figure(figsize=(5.5, 3.8))
    axis = figure.subplots()
    colours = colormaps["tab10"]
    plotted_ks: set[int] = set()
    for index, row in enumerate(rows):
        points = sorted((int(re.match(r"pass@(\d+) \(sampled\)", metric).group(1)), cell.value)
                        for (metric, name), cell in row.cells.items()
                        if name == "overall avg" and re.match(r"pass@\d+ \(sampled\)", metric))
        if points:
            ks, values = zip(*points)
            axis.plot(ks, [100 * value for value in values], color=colours(index % 10), marker="o", label=row.label)
            plotted_ks.update(ks)
    if not plotted_ks:
        return False
    axis.set_xscale("log", base=2)
    axis.set_xticks(sorted(plotted_ks), [str(k) for k in sorted(plotted_ks)])
    axis.minorticks_off()
    axis.set_xlabel("k")
    axis.set_ylabel("pass@k, overall avg (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def default_ks(runs: Sequence[Run]) -> list[int]:
    """Powers of two up to the most sampled responses any prompt has."""
    most = max((len(group) for run in runs
                for group in _by_prompt([g for g in run.generations if g.decoding == SAMPLED]).values()), default=1)
    return [2**power for power in range(int(math.log2(most)) + 1)]


def checkpoints(run: Run) -> list[tuple[str, list[Generation]]]:
    """(row label, generations) per checkpoint ``step`` of a run; the run's label alone when it has one."""
    by_step: dict[int | None, list[Generation]] = defaultdict(list)
    for generation in run.generations:
        by_step[generation.step].append(generation)
    if len(by_step) <= 1:
        return [(run.label, run.generations)] if run.generations else []
    ordered = sorted(by_step.items(), key=lambda item: (item[0] is None, item[0] or 0))
    return [(f"{run.label} @ step {step}", generations) for step, generations in ordered]


def write_report(runs: Sequence[Run], out: Path, ks: Sequence[int] | None = None, confidence: float = 0.95,
                 resamples: int = 1000, seed: int = 0, reference: bool = False, notes: Sequence[str] = ()) -> list[Path]:
    """Write report.md, report.csv and the PNGs into ``out``; returns the paths written."""
    settings = {"confidence": confidence, "resamples": resamples, "seed": seed}
    ks = sorted(set(ks)) if ks else default_ks(runs)
    if ks[0] < 1:
        raise ValueError(f"k must be >= 1, got {ks[0]}")
    rows = [build_row(label, generations, ks, settings) for run in runs for label, generations in checkpoints(run)]
    rows += reference_rows() if reference else []
    out.mkdir(parents=True, exist_ok=True)
    images = [name for name, plot in (("curves.png", lambda p: plot_curves(runs, p)), ("pass_at_k.png", lambda p: plot_pass_at_k(rows, p)))
              if plot(out / name)]
    notes = [*notes, *(note for row in rows for note in row.notes)]
    (out / "report.md").write_text(render_markdown(rows, runs, settings, images, notes), encoding="utf-8")
    write_csv(rows, out / "report.csv")
    return [out / "report.md", out / "report.csv", *(out / name for name in images)]


def _judge_runs(runs: Sequence[Run], client: JudgeClient, workers: int, out: Path) -> list[str]:
    """Re-score every run's generations with the judge, saving them as OUT/judged/<label>.jsonl dumps; the
    verdicts are kept in OUT/judged/<label>.verdicts.jsonl as they arrive (a rerun asks only for the missing)."""
    notes = []
    (out / "judged").mkdir(parents=True, exist_ok=True)
    for run in runs:
        stem = out / "judged" / re.sub(r"[^\w.-]+", "_", run.label)
        run.generations, unparsed = judge_generations(run.generations, client, workers,
                                                      stem.with_name(stem.name + ".verdicts.jsonl"))
        with stem.with_name(stem.name + ".jsonl").open("w", encoding="utf-8") as handle:
            for generation in run.generations:
                handle.write(json.dumps(generation.to_dump(), ensure_ascii=False) + "\n")
        notes.append(f"{run.label}: {len(run.generations)} generations judged by {client.model}, "
                     f"{unparsed} replies without a verdict (counted wrong)")
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="[LABEL=]PATH", help="evaluation dumps and/or file-logger logs")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--k", type=int, nargs="+", help="k of pass@k and maj@k (default: 1, 2, 4, … up to n)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--reference", action="store_true", help="add the paper's Table 1 (METHOD.md §8) as reference rows")
    parser.add_argument("--judge-url", help="re-score with an LLM judge: an OpenAI-compatible server, e.g. http://localhost:8000/v1")
    parser.add_argument("--judge-model", help="the judge's model name on that server")
    parser.add_argument("--judge-workers", type=int, default=4, help="concurrent judge requests")
    parser.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per judge request")
    parser.add_argument("--judge-retries", type=int, default=2)
    args = parser.parse_args(argv)
    if args.judge_url and not args.judge_model:
        parser.error("--judge-url needs --judge-model")
    for option, value, minimum in (("--judge-workers", args.judge_workers, 1), ("--judge-retries", args.judge_retries, 0)):
        if value < minimum:
            parser.error(f"{option} must be >= {minimum}, got {value}")
    if not args.judge_timeout > 0:
        parser.error(f"--judge-timeout must be > 0 seconds, got {args.judge_timeout:g}")
    try:
        runs = [load_run(*parse_input(argument)) for argument in args.inputs]
        labels = [run.label for run in runs]
        duplicated = sorted({label for label in labels if labels.count(label) > 1})
        if duplicated:
            raise ReportInputError(f"two inputs are labelled {', '.join(duplicated)}: name them LABEL=PATH")
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ReportInputError(f"--out {args.out}: cannot make the output directory ({error.strerror or error})") from None
        notes = []
        if args.judge_url:
            client = JudgeClient(args.judge_url, args.judge_model, timeout=args.judge_timeout,
                                 retries=args.judge_retries, api_key=os.environ.get("VOGUE_JUDGE_API_KEY"))
            notes = _judge_runs(runs, client, args.judge_workers, args.out)
        paths = write_report(runs, args.out, args.k, args.confidence, args.resamples, args.seed, args.reference, notes)
    except (ValueError, JudgeError) as error:  # ReportInputError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0

