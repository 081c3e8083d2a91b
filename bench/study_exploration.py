"""Does visual-uncertainty exploration slow exploration decay? GRPO, VOGUE and NoisyRollout on the
synthetic shapes task, on the CPU backend, several seeds each (issue 16; results: docs/study_exploration.md).

    python bench/study_exploration.py [--work-dir runs/study_exploration] [--methods grpo,vogue,noisyrollout]
        [--seeds 3] [--steps 100] [--val-every 20] [--val-n 16] [-- hydra overrides for every run]

Every method trains the same warm-started tiny model (``python -m recipe.vogue.cpu.tiny``) on the same
synthetic data (``python -m data_prep synthetic``, 512 train / 128 validation prompts; both questions
are flip- and rotation-invariant, so VOGUE's perturbations keep them answerable) with verl's own loop
(``recipe.vogue.cpu.tiny_run.train``). Seed s sets ``data.seed`` (the order of prompts) and
``vogue.seed`` (branch draws, perturbations); generation sampling is not seeded, so a rerun differs
within the seed spread. Every ``--val-every`` steps (and before training) the run is measured on the
validation prompts: pass@k (unbiased, ``recipe.vogue.evaluation.metrics.pass_at_k``) from ``--val-n`` samples
at T = 1 (verl's validation dump), and greedy pass@1 from the checkpoint verl saved at that step (Hugging
Face ``generate``, scored by vogue_reward like training). Training curves come from verl's file logger.

Resumable: a run's WORK_DIR/runs/<method>-s<seed>/summary.json is written last (atomically), and a run
that has one is not redone; an unfinished run is restarted from scratch. The report goes to
WORK_DIR/report/: study.md (final table with mean ± sd over seeds and per-seed paired differences against
GRPO, the change from step 0), curves.png (pass@1 greedy and sampled, pass@8, pass@16, entropy, u_per,
noisy fraction vs step; one colour per method, thin lines per seed), results.json, and evaluation/ (the
evaluation report of ``recipe.vogue.evaluation.report`` over every run and checkpoint).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data_prep.synthetic import TASKS  # noqa: E402
from recipe.vogue.cpu import tiny_run  # noqa: E402
from recipe.vogue.evaluation.metrics import GREEDY, Generation, mean_pass_at_k  # noqa: E402

# method → (tiny_run algorithm, overrides); VOGUE's preset and NoisyRollout's 2n follow the paper/launchers
METHODS = {
    "grpo": ("grpo", []),
    "vogue": ("vogue", []),
    "vogue_authors": ("vogue", ["vogue=authors_code"]),
    # NoisyRollout: 2n rollouts per prompt (n clean + n from diffusion-noised images), vision tower frozen,
    # Geometry3K's noise schedule (midpoint 40 steps, fits a 100-step run)
    "noisyrollout": ("grpo", ["noisyrollout=geo3k", "actor_rollout_ref.rollout.n=8",
                              "actor_rollout_ref.actor.freeze_vision_tower=true"]),
    "grpo_n8": ("grpo", ["actor_rollout_ref.rollout.n=8"]),  # NoisyRollout's sample budget, no noise
    # VOGUE's shaping without the visual term; p = 0 draws no row into the noisy branch, so no paired forward
    "entropy_only": ("vogue", ["vogue.alpha_per=0", "vogue.schedule.type=fixed", "vogue.schedule.fixed=0"]),
    "visual_only": ("vogue", ["vogue.alpha_out=0"]),
}
# the answers a guesser that sees no image picks among, per question kind (extra_info.kind)
GUESSER_ANSWERS = {"colour": 4, "bigger": 2, "compose": 36}
# per task: training rows, the tiny model's build (``python -m recipe.vogue.cpu.tiny build``) and the seed of
# the warm start's own rows (None: the training rows). On compose the tiny vision tower is too narrow to learn
# small shapes and end-to-end warm starts ignore the image; the wider tower, pre-trained on the answer's words,
# then 300 supervised steps start at greedy pass@1 ≈ 0.3 (docs/study_exploration.md, the pilots)
TASK_ASSETS = {
    "shapes": {"train_rows": 512, "model_args": [], "warm_start_data_seed": None},
    "compose": {"train_rows": 2048, "model_args": ["--size", "tiny_wide_vision", "--vision-steps", "1000",
                                                    "--warm-start-steps", "300", "--warm-start-lr", "1e-3"],
                "warm_start_data_seed": 1000},
}
TEMPERATURE_METHOD = "grpo"  # whose final checkpoints the temperature sweep samples
REFERENCE = "grpo"
KS = (1, 2, 4, 8, 16)
TRAIN_METRICS = {"entropy": "actor/entropy", "u_per": "vogue/u_per_token_mean", "noisy_frac": "vogue/noisy_frac",
                 "reward": "critic/score/mean", "step_s": "timing_s/step"}
# (summary key, column title) of the final-step table
TABLE = (("greedy_pass@1", "greedy pass@1"), ("pass@1", "pass@1"), ("pass@8", "pass@8"), ("pass@16", "pass@16"),
         ("entropy_last10", "entropy (last 10 steps)"))
LAST_STEPS = 10
PANELS = (("greedy_pass@1", "validation pass@1, greedy", "validation"), ("pass@1", "validation pass@1, T = 1", "validation"),
          ("pass@8", "validation pass@8", "validation"), ("pass@16", "validation pass@16", "validation"),
          ("entropy", "policy entropy (training)", "train"), ("u_per", "u_per (VOGUE)", "train"),
          ("noisy_frac", "noisy-branch fraction (VOGUE)", "train"))


def run_overrides(method: str, seed: int, steps: int, val_every: int, val_n: int, extra: Sequence[str]) -> list[str]:
    return [
        *METHODS[method][1], f"data.seed={seed}", f"vogue.seed={seed}", f"vogue.schedule.total_steps={steps}",
        f"actor_rollout_ref.rollout.val_kwargs.n={val_n}", f"trainer.test_freq={val_every}", "trainer.val_before_train=true",
        f"trainer.save_freq={val_every}", "actor_rollout_ref.actor.checkpoint.save_contents=['model','hf_model']",
        *extra,
    ]


def checkpoint_dir(run_dir: str, algorithm: str, step: int) -> str:
    return os.path.join(run_dir, "checkpoints", algorithm, f"global_step_{step}", "actor", "huggingface")


@torch.no_grad()
def model_generations(model_dir: str, processor_dir: str, val_file: str, step: int, max_new_tokens: int,
                      temperature: float | None = None, n: int = 1, seed: int = 0) -> list[Generation]:
    """Responses of the Hugging Face model in ``model_dir`` to every row of ``val_file``: greedy (one per row)
    when ``temperature`` is None, else ``n`` per row sampled at ``temperature`` (top-p 1, seeded); scored by
    vogue_reward (``acc``) as verl's reward loop scores them."""
    import pyarrow.parquet as pq
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from recipe.vogue.cpu.warm_start import encode, load_examples
    from recipe.vogue.evaluation.metrics import SAMPLED
    from vogue_reward.score import compute_score, row_id

    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    processor = AutoProcessor.from_pretrained(processor_dir)
    batch = encode(processor, load_examples(val_file), with_answer=False)
    sampling = {"do_sample": False} if temperature is None else {
        "do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0, "num_return_sequences": n}
    output = model.generate(**batch, max_new_tokens=max_new_tokens, **sampling)
    texts = processor.tokenizer.batch_decode(output[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    rows = pq.read_table(val_file, columns=["data_source", "extra_info", "reward_model"]).to_pylist()
    per_row = 1 if temperature is None else n
    generations = []
    for position, text in enumerate(texts):
        row = rows[position // per_row]
        extra_info = row["extra_info"] or {}
        scored = compute_score(row["data_source"], text, row["reward_model"]["ground_truth"], extra_info)
        generations.append(Generation(data_source=row["data_source"], row_id=row_id(extra_info), acc=float(scored["acc"]),
                                      score=float(scored["score"]), output=text, step=step, extra_info=extra_info,
                                      decoding=GREEDY if temperature is None else SAMPLED))
    return generations


def per_prompt_counts(generations: Sequence[Generation]) -> dict[str, dict[str, list[int]]]:
    """step → "data_source/row_id" → [responses, correct ones]: what every pass@k of the study is computed from."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for generation in generations:
        count = counts[str(generation.step)][f"{generation.data_source}/{generation.row_id}"]
        count[0] += 1
        count[1] += int(generation.correct)
    return {step: dict(sorted(prompts.items())) for step, prompts in sorted(counts.items(), key=lambda item: int(item[0]))}


def guesser_pass_at_k_of(val_file: str, ks: Sequence[int]) -> dict[str, float]:
    """pass@k of a guesser that sees no image and picks uniformly among a question's valid answers
    (``GUESSER_ANSWERS`` by extra_info.kind: the named colours of "bigger", the 36 of "compose")."""
    import pyarrow.parquet as pq

    from recipe.vogue.evaluation.metrics import guesser_pass_at_k

    answers = [GUESSER_ANSWERS[row["extra_info"]["kind"]] for row in pq.read_table(val_file, columns=["extra_info"]).to_pylist()]
    return {f"pass@{k}": guesser_pass_at_k(answers, k) for k in ks}


def pass_at_k_by_step(generations: Sequence[Generation], ks: Sequence[int]) -> dict[int, dict[str, float]]:
    """step → {pass@k: unbiased pass@k over prompts} from each prompt's (samples, correct) at that step."""
    counts: dict[int, dict[tuple[str, str], list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for generation in generations:
        count = counts[generation.step][generation.prompt]
        count[0] += 1
        count[1] += generation.correct
    return {step: {f"pass@{k}": mean_pass_at_k([tuple(c) for c in prompts.values()], k) for k in ks}
            for step, prompts in sorted(counts.items())}


def train_curves(records: Sequence[dict]) -> dict[str, list[tuple[int, float]]]:
    curves = defaultdict(list)
    for record in records:
        for name, key in TRAIN_METRICS.items():
            if key in record["data"] and "timing_s/step" in record["data"]:
                curves[name].append((record["step"], float(record["data"][key])))
    return dict(curves)


def _write_json(path: str, payload) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(temporary, path)


def results_path(args, method: str, seed: int) -> str:
    """Where a finished run's summary lives: ``--results-dir`` (a folder to commit), else the run's own folder."""
    if args.results_dir:
        return os.path.join(args.results_dir, f"{method}-s{seed}.json")
    return os.path.join(args.work_dir, "runs", f"{method}-s{seed}", "summary.json")


def temperature_sweep(args, run_dir: str, algorithm: str, model_dir: str, val_file: str) -> dict[str, dict]:
    """The final checkpoint sampled at each ``--temperatures`` value: pass@k and the per-prompt counts."""
    final = checkpoint_dir(run_dir, algorithm, args.steps)
    sweep = {}
    for temperature in args.temperatures:
        generations = model_generations(final, model_dir, val_file, args.steps, args.max_response_length, temperature,
                                        args.val_n)
        sweep[str(temperature)] = {**pass_at_k_by_step(generations, [k for k in KS if k <= args.val_n])[args.steps],
                                   "per_prompt": per_prompt_counts(generations)[str(args.steps)]}
    return sweep


def run_one(method: str, seed: int, args, data_dir: str, model_dir: str) -> dict:
    """Train one (method, seed), measure it, write its summary (``results_path``); a finished run is read back."""
    run_dir = os.path.join(args.work_dir, "runs", f"{method}-s{seed}")
    summary_path = results_path(args, method, seed)
    if os.path.exists(summary_path):
        print(f"[study] {method} seed {seed}: finished earlier ({summary_path})", flush=True)
        with open(summary_path) as f:
            return json.load(f)
    shutil.rmtree(run_dir, ignore_errors=True)
    algorithm, _ = METHODS[method]
    overrides = run_overrides(method, seed, args.steps, args.val_every, args.val_n, args.overrides)
    print(f"[study] {method} seed {seed}: training {args.steps} steps (log: {run_dir}/train.log)", flush=True)
    started = time.monotonic()
    records = tiny_run.train(algorithm, data_dir, model_dir, run_dir, args.steps, overrides,
                             os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "train.log"))
    train_seconds = time.monotonic() - started
    val_file = os.path.join(data_dir, "val.parquet")
    sampled = tiny_run.validation_generations(run_dir, algorithm, val_file)
    validation = pass_at_k_by_step(sampled, [k for k in KS if k <= args.val_n])
    greedy = [g for step in validation
              for g in model_generations(model_dir if step == 0 else checkpoint_dir(run_dir, algorithm, step), model_dir,
                                         val_file, step, args.max_response_length)]
    for step, values in pass_at_k_by_step(greedy, [1]).items():
        validation[step]["greedy_pass@1"] = values["pass@1"]
    with open(os.path.join(run_dir, "generations.jsonl"), "w") as f:
        f.writelines(json.dumps(g.to_dump()) + "\n" for g in sampled + greedy)
    summary = {"method": method, "seed": seed, "task": args.task, "steps": args.steps, "train_seconds": train_seconds,
               "validation": {str(step): values for step, values in validation.items()}, "train": train_curves(records),
               "per_prompt": {"sampled": per_prompt_counts(sampled), "greedy": per_prompt_counts(greedy)}}
    if method == TEMPERATURE_METHOD and args.temperatures:
        summary["temperature"] = temperature_sweep(args, run_dir, algorithm, model_dir, val_file)
    if not args.keep_checkpoints:
        shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)  # measured; the summary keeps every count
    os.makedirs(os.path.dirname(summary_path), exist_ok=True)
    _write_json(summary_path, summary)
    print(f"[study] {method} seed {seed}: {train_seconds:.0f} s; last validation "
          + ", ".join(f"{k} {v:.3f}" for k, v in validation[max(validation)].items()), flush=True)
    return summary


def final_values(summary: dict) -> dict[str, float]:
    """The last validation's metrics, the entropy over the last LAST_STEPS steps and the mean step time."""
    last = summary["validation"][str(max(int(step) for step in summary["validation"]))]
    entropy = [value for _, value in summary["train"].get("entropy", [])][-LAST_STEPS:]
    step_s = [value for _, value in summary["train"].get("step_s", [])]
    return {**last, "entropy_last10": statistics.fmean(entropy) if entropy else math.nan,
            "step_s": statistics.fmean(step_s) if step_s else math.nan}


def _spread(values: Sequence[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}" if not math.isnan(sd) else f"{values[0]:.3f}"


def paired_differences(summaries: Sequence[dict], key: str) -> dict[str, list[float]]:
    """method → [value(method, s) − value(GRPO, s)] over the seeds both ran, in seed order."""
    by = {(s["method"], s["seed"]): final_values(s).get(key, math.nan) for s in summaries}
    methods = sorted({m for m, _ in by}, key=list(METHODS).index)
    return {m: [by[(m, seed)] - by[(REFERENCE, seed)] for (mm, seed) in sorted(by) if mm == m and (REFERENCE, seed) in by]
            for m in methods if m != REFERENCE}


def render(summaries: Sequence[dict], command: str, wall_seconds: float, guesser: dict[str, float] | None = None) -> str:
    methods = sorted({s["method"] for s in summaries}, key=list(METHODS).index)
    per_method = {m: [s for s in summaries if s["method"] == m] for m in methods}
    lines = [f"# Exploration-decay study: {', '.join(methods)}", "", f"Command: `{command}`", "",
             f"Wall time of this invocation: {wall_seconds / 60:.1f} min (finished runs are reused); the runs took "
             f"{sum(s['train_seconds'] for s in summaries) / 60:.1f} min of training in all. "
             f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end.", "",
             "## Final validation (mean ± sd over seeds)", "",
             "| method | seeds | " + " | ".join(title for _, title in TABLE) + " | s/step |",
             "|---" * (len(TABLE) + 3) + "|"]
    for m in methods:
        finals = [final_values(s) for s in per_method[m]]
        cells = [_spread([f.get(key, math.nan) for f in finals]) for key, _ in TABLE]
        lines.append(f"| {m} | {len(finals)} | " + " | ".join(cells) + f" | {_spread([f['step_s'] for f in finals])} |")
    if guesser:
        cells = [f"{guesser[key]:.3f}" if key in guesser else "—" for key, _ in TABLE]
        lines.append("| uniform guesser (no image) | — | " + " | ".join(cells) + " | — |")
    if REFERENCE in methods:
        lines += ["", f"## Paired differences against {REFERENCE} (same seed): mean ± sd [per seed]", "",
                  "| method | " + " | ".join(title for _, title in TABLE) + " |", "|---" * (len(TABLE) + 1) + "|"]
        differences = {key: paired_differences(summaries, key) for key, _ in TABLE}
        for m in methods:
            if m != REFERENCE:
                cells = [f"{_spread(differences[key][m])} [{', '.join(f'{d:+.3f}' for d in differences[key][m])}]"
                         for key, _ in TABLE]
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "## Change from step 0 to the last validation (mean ± sd over seeds)", "",
              "| method | " + " | ".join(f"Δ {title}" for key, title in TABLE if key != "entropy_last10") + " |",
              "|---" * len(TABLE) + "|"]
    for m in methods:
        cells = []
        for key, _ in TABLE:
            if key != "entropy_last10":
                deltas = [final_values(s).get(key, math.nan) - s["validation"]["0"].get(key, math.nan) for s in per_method[m]]
                cells.append(_spread(deltas))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "## Validation by step (mean over seeds)", "",
              "| method | metric | " + " | ".join(f"step {step}" for step in _common_steps(summaries)) + " |",
              "|---" * (len(_common_steps(summaries)) + 2) + "|"]
    for m in methods:
        for key, title in TABLE:
            if key != "entropy_last10":
                values = [statistics.fmean(s["validation"][str(step)].get(key, math.nan) for s in per_method[m])
                          for step in _common_steps(summaries)]
                lines.append(f"| {m} | {title} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines += ["", "Curves: curves.png. Per-checkpoint evaluation report: evaluation/report.md.", ""]
    return "\n".join(lines)


def _common_steps(summaries: Sequence[dict]) -> list[int]:
    """The validation steps every run measured."""
    return sorted(set.intersection(*(set(map(int, s["validation"])) for s in summaries)))


def plot(summaries: Sequence[dict], path: str) -> None:
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from recipe.vogue.evaluation.report import hide_unused, style_step_panel

    methods = sorted({s["method"] for s in summaries}, key=list(METHODS).index)
    colours = {m: colormaps["tab10"](i) for i, m in enumerate(METHODS)}
    figure = Figure(figsize=(16, 7.5))
    axes = figure.subplots(2, 4).flat
    for (key, title, source), axis in zip(PANELS, axes):
        for m in methods:
            runs = [sorted((int(step), values[key]) for step, values in s["validation"].items() if key in values) if source == "validation"
                    else sorted(s["train"].get(key, [])) for s in summaries if s["method"] == m]
            runs = [r for r in runs if r]
            for points in runs:
                axis.plot(*zip(*points), color=colours[m], alpha=0.3, linewidth=0.8)
            common = sorted(set.intersection(*(set(step for step, _ in r) for r in runs))) if runs else []
            if common:
                mean = [statistics.fmean(dict(r)[step] for r in runs) for step in common]
                axis.plot(common, mean, color=colours[m], linewidth=2, marker="o" if source == "validation" else None, markersize=3)
        if key == "entropy":
            axis.set_yscale("log")  # NoisyRollout's off-policy noisy responses spike it by 10×
        style_step_panel(axis, title)
    hide_unused(axes)
    figure.legend(handles=[Line2D([], [], color=colours[m], linewidth=2, label=m) for m in methods], loc="upper center",
                  ncol=len(methods), fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path, dpi=90)


def write_reports(summaries: Sequence[dict], args, command: str, wall_seconds: float, guesser: dict[str, float]) -> str:
    from recipe.vogue.evaluation import report

    out = Path(args.work_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.md").write_text(render(summaries, command, wall_seconds, guesser), encoding="utf-8")
    plot(summaries, str(out / "curves.png"))
    _write_json(str(out / "results.json"), list(summaries))
    runs = []
    for s in summaries:
        run_dir = Path(args.work_dir) / "runs" / f"{s['method']}-s{s['seed']}"
        if not (run_dir / "generations.jsonl").exists():
            continue  # trained in another session: its committed summary carries the counts, not the responses
        run = report.load_run(f"{s['method']} s{s['seed']}", run_dir / "metrics.jsonl")
        run.generations = [Generation.from_dump(json.loads(line)) for line in open(run_dir / "generations.jsonl")]
        runs.append(run)
    if runs:
        report.write_report(runs, out / "evaluation", ks=[k for k in KS if k <= args.val_n])
    return str(out / "study.md")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="shapes", help="the synthetic task (data_prep synthetic --task)")
    parser.add_argument("--work-dir", help="default runs/study_exploration (shapes) or runs/study_<task>")
    parser.add_argument("--results-dir", help="a folder for each finished run's summary (with its per-prompt counts), "
                        "to commit; the report is built from it; default the runs' own folders")
    parser.add_argument("--methods", default="grpo,vogue,noisyrollout", help=f"comma-separated, from {list(METHODS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … first-seed + seeds − 1 (pilots use others)")
    parser.add_argument("--temperatures", default="", help=f"comma-separated T: {TEMPERATURE_METHOD}'s final checkpoints "
                        "are also sampled at each (evaluation only)")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep each run's checkpoints after measuring")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--val-every", type=int, default=20)
    parser.add_argument("--val-n", type=int, default=16, help="samples per validation prompt (pass@k up to this k)")
    parser.add_argument("--train-rows", type=int, help="default: the task's (TASK_ASSETS)")
    parser.add_argument("--val-rows", type=int, default=128)
    parser.add_argument("--max-response-length", type=int, default=24, help="as data.max_response_length of cpu/tiny.yaml")
    parser.add_argument("overrides", nargs="*", help="hydra overrides for every run")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if args.steps < 1 or args.seeds < 1 or args.val_every < 1 or args.val_n < 1:
        parser.error("--steps, --seeds, --val-every and --val-n must be >= 1")
    if args.steps % args.val_every:
        parser.error("--steps must be a multiple of --val-every (the last step is measured and checkpointed)")
    try:
        args.temperatures = [float(t) for t in args.temperatures.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--temperatures {args.temperatures!r}: comma-separated numbers")
    if any(t <= 0 for t in args.temperatures):
        parser.error("--temperatures must be > 0")
    default_dir = "study_exploration" if args.task == "shapes" else f"study_{args.task}"
    args.work_dir = os.path.abspath(args.work_dir or os.path.join(tiny_run.REPO_ROOT, "runs", default_dir))
    args.results_dir = args.results_dir and os.path.abspath(args.results_dir)
    command = " ".join(["python bench/study_exploration.py", *(argv if argv is not None else sys.argv[1:])])
    started = time.monotonic()
    assets = TASK_ASSETS[args.task]
    train_rows = args.train_rows or assets["train_rows"]
    data_dir, model_dir = tiny_run.ensure_assets(
        args.work_dir, 0, ["--train", str(train_rows), "--val", str(args.val_rows), "--task", args.task],
        ["--task", args.task, *assets["model_args"]], assets["warm_start_data_seed"])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    # seeds outermost: an interrupted study has every method at the same number of seeds
    summaries = [run_one(m, seed, args, data_dir, model_dir) for seed in seeds for m in methods]
    guesser = guesser_pass_at_k_of(os.path.join(data_dir, "val.parquet"), [k for k in KS if k <= args.val_n])
    path = write_reports(summaries, args, command, time.monotonic() - started, guesser)
    print(open(path).read())
    print(f"[study] report: {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
