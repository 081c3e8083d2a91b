"""The tiny CPU run: build the synthetic data and the warm-started tiny model if missing, train GRPO and
VOGUE with verl's own loop on the CPU backend, print one line per step and a summary table, and write
the evaluation report (tables and PNG curves).

    python -m recipe.vogue.cpu.tiny_run [--work-dir runs/tiny] [--steps 30] [-- hydra overrides...]

Both algorithms run ``recipe.vogue.main_vogue`` (GRPO with ``vogue.enable=false``, which leaves every
training hook to verl), so validation reports the unbiased pass@k (``recipe.vogue.evaluation.validation``). Each
runs in its own process (a fresh Ray cluster) whose output goes to WORK_DIR/logs/<algorithm>.log; its
metrics come from verl's file logger (WORK_DIR/metrics/<algorithm>.jsonl, read while it runs) and its
validation generations from verl's dump (WORK_DIR/validation/<algorithm>/<step>.jsonl). The report
(``recipe.vogue.evaluation.report``) goes to WORK_DIR/report/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from recipe.vogue.cpu.platform import explain_collective_timeout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
REWARD_FILE = os.path.join(REPO_ROOT, "vogue_reward", "verl_entry.py")
ACCURACY_KEY = "val-core/synthetic_shapes/acc/mean@4"
PASS_KEY = "val-core/synthetic_shapes/acc/pass@4"

# a run with 2 data-parallel trainer ranks (2 logical GPUs, gloo); per-rank row-group lines in the output
TWO_RANKS = ["trainer.n_gpus_per_node=2", "ray_kwargs.ray_init.num_gpus=2"]
TWO_RANKS_ENV = {"VOGUE_LOG_ROW_GROUPS": "1"}
# the end-to-end tests' short 2-rank steps: 4 prompts × 2 responses, one mini-batch, 2-row log-prob micro-batches
TWO_RANKS_SMALL_STEPS = [
    *TWO_RANKS, "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.rollout.n=2",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4", "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
    "trainer.test_freq=-1", "trainer.val_before_train=false",
]
_ROW_GROUPS = re.compile(r"\[vogue row groups\] rank (\d+) raw-only (\d+) probed (\d+) no-image (\d+)")


def row_groups(output: str) -> dict[int, list[tuple[int, int, int]]]:
    """rank → (raw-only, probed, image-less) rows of each of its log-prob micro-batches, in order, from a run's
    output with ``TWO_RANKS_ENV`` (``worker.log_row_groups``)."""
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for rank, *counts in _ROW_GROUPS.findall(output):
        groups.setdefault(int(rank), []).append(tuple(int(count) for count in counts))
    return groups


def had_learning_signal(records: list[dict], through_step: int) -> bool:
    """Whether a training step up to ``through_step`` had a non-zero advantage. Without one (every group's rewards
    tied, which a few 2-response groups do now and then) the policy gradient is exactly 0, and with weight decay,
    the KL loss and the entropy bonus off (cpu/tiny.yaml) the weights stay bit-identical: a test that checks that
    training moved them checks, for such a draw, that the gradient norm was 0 and nothing moved."""
    return any(record["data"]["critic/advantages/max"] != 0 or record["data"]["critic/advantages/min"] != 0
               for record in records if "timing_s/step" in record["data"] and record["step"] <= through_step)


# algorithm name → overrides on top of recipe/vogue/main_vogue.py's config (`paper` preset) + cpu/tiny.yaml
ALGORITHMS = {
    "grpo": ["vogue.enable=false"],
    # one perturbation thread: 56×56 images take <1 ms each, and threads only contend for 2 cores here
    "vogue": ["vogue.perturb_workers=1"],
}


def cpu_environment() -> dict[str, str]:
    env = dict(os.environ)
    # RAY_DEDUP_LOGS=0: every rank's and replica's lines reach the log (Ray folds identical ones otherwise)
    env.update(VERL_PLATFORM="cpu", WANDB_MODE="disabled", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               RAY_DEDUP_LOGS="0")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def ensure_assets(work_dir: str, seed: int, data_args: Sequence[str] = (), model_args: Sequence[str] = (),
                  warm_start_data_seed: int | None = None) -> tuple[str, str]:
    """Synthetic data (``python -m data_prep synthetic`` with ``data_args``) and tiny model
    (``python -m recipe.vogue.cpu.tiny build`` with ``model_args``) under ``work_dir`` (built once, reused
    afterwards; output in WORK_DIR/logs/assets.log). The model is warm-started on the training rows, or with
    ``warm_start_data_seed`` on rows of their own (WORK_DIR/warm_start_data, the same ``data_args`` at that
    seed), so that RL does not train on images the warm start has memorised."""
    data_dir = os.path.join(work_dir, "data")
    model_dir = os.path.join(work_dir, "model")
    log_path = os.path.join(work_dir, "logs", "assets.log")
    datasets = {data_dir: seed}
    warm_dir = data_dir
    if warm_start_data_seed is not None:
        warm_dir = os.path.join(work_dir, "warm_start_data")
        datasets[warm_dir] = warm_start_data_seed
    for directory, data_seed in datasets.items():
        if not os.path.exists(os.path.join(directory, "val.parquet")):
            _run("the synthetic data", [sys.executable, "-m", "data_prep", "synthetic", "--out-dir", directory, "--seed",
                                      str(data_seed), *data_args], log_path)
    if not os.path.exists(os.path.join(model_dir, "tiny_build.json")):
        _run("the warm-started tiny model", [sys.executable, "-m", "recipe.vogue.cpu.tiny", "build", "--out", model_dir,
                                             "--seed", str(seed), "--warm-start-data", os.path.join(warm_dir, "train.parquet"),
                                             *model_args], log_path)
    return data_dir, model_dir


def _run(what: str, command: list[str], log_path: str) -> None:
    print(f"[tiny] building {what} (log: {log_path})", flush=True)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "a") as log:
        returncode = subprocess.run(command, env=cpu_environment(), stdout=log, stderr=subprocess.STDOUT).returncode
    _check_exit(returncode, what, log_path)


class RunFailed(RuntimeError):
    """A step of the tiny run exited non-zero: the message holds the end of its log, ``summary`` one line."""

    def __init__(self, message: str, summary: str):
        super().__init__(message)
        self.summary = summary


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOT_THE_CAUSE = ("Set the environment variable HYDRA_FULL_ERROR", "^")
_STATES_AN_ERROR = re.compile(r"(?:Error|Exception)\b|is not in struct|Could not")


def last_error_line(output: str) -> str:
    """The last line of a run's output that states its error (an exception, hydra's "Key … is not in struct"),
    else its last line; Ray prefixes and colours removed."""
    lines = [re.sub(r"^\([^)]*\)\s*", "", _ANSI.sub("", line)).strip() for line in output.splitlines()]
    lines = [line for line in lines if line and not line.startswith(_NOT_THE_CAUSE)]
    stated = [line for line in lines if _STATES_AN_ERROR.search(line) and "Warning" not in line]
    return (stated or lines or ["no output"])[-1]


def _check_exit(returncode: int, what: str, log_path: str) -> None:
    if returncode != 0:
        with open(log_path, errors="replace") as f:
            output = f.read()
        reason = explain_collective_timeout(output)
        cause = f" ({reason})" if reason else ""
        raise RunFailed(f"{what}: exited with {returncode}{cause}; end of {log_path}:\n{output[-5000:]}",
                        f"{what}: exited with {returncode}{cause}: {last_error_line(output)} (whole output: {log_path})")


def validation_dir(work_dir: str, algorithm: str) -> str:
    return os.path.join(work_dir, "validation", algorithm)


def training_command(algorithm: str, data_dir: str, model_dir: str, work_dir: str, steps: int, overrides: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "recipe.vogue.main_vogue", "+cpu=tiny", *ALGORITHMS[algorithm],
        f"data.train_files={os.path.join(data_dir, 'train.parquet')}",
        f"data.val_files={os.path.join(data_dir, 'val.parquet')}",
        f"actor_rollout_ref.model.path={model_dir}",
        f"reward.custom_reward_function.path={REWARD_FILE}",
        "reward.custom_reward_function.name=compute_score",
        f"trainer.total_training_steps={steps}",
        f"trainer.experiment_name={algorithm}",
        f"trainer.default_local_dir={os.path.join(work_dir, 'checkpoints', algorithm)}",
        f"trainer.validation_data_dir={validation_dir(work_dir, algorithm)}",
        *overrides,
    ]


def _number(value: float, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def progress_line(algorithm: str, steps: int, record: dict) -> str:
    """One step of a run, from its file-logger record: reward, s/step and, when measured, validation."""
    data = record["data"]
    parts = [f"[{algorithm}] step {record['step']:>{len(str(steps))}}/{steps}"]
    if "timing_s/step" in data:
        parts += [f"reward {_number(data.get('critic/score/mean', math.nan))}", f"{data['timing_s/step']:.1f} s/step"]
    else:
        parts.append("before training")
    if ACCURACY_KEY in data:
        parts += [f"val acc {_number(data[ACCURACY_KEY])}", f"pass@4 {_number(data.get(PASS_KEY, math.nan))}"]
    return "  ".join(parts)


class _MetricsTail:
    """The complete lines verl's file logger has written so far (it writes unbuffered, one per step)."""

    def __init__(self, path: str):
        self.path, self.offset, self.pending = path, 0, b""

    def new_records(self) -> list[dict]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


def train(
    algorithm: str, data_dir: str, model_dir: str, work_dir: str, steps: int, overrides: list[str],
    metrics_path: str, log_path: str | None = None, timeout: float | None = None, progress: bool = False,
    extra_env: dict[str, str] | None = None,
) -> list[dict]:
    """One training process on the CPU backend, logging metrics with verl's file logger to
    ``metrics_path``; its output goes to ``log_path`` (default WORK_DIR/logs/<algorithm>.log). With
    ``progress``, prints ``progress_line`` for each step as it is logged. Returns the logged records; a
    failure raises with the end of the log, a run past ``timeout`` seconds is killed. ``extra_env``: more
    environment variables for the run."""
    log_path = log_path or os.path.join(work_dir, "logs", f"{algorithm}.log")
    for path in (metrics_path, log_path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(metrics_path):
        os.remove(metrics_path)  # the tail must not read an earlier run's lines
    env = cpu_environment()
    env.update(extra_env or {}, VERL_FILE_LOGGER_PATH=metrics_path)
    command = training_command(algorithm, data_dir, model_dir, work_dir, steps, overrides)
    tail = _MetricsTail(metrics_path)
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    process.wait(timeout=1)
                    break
                except subprocess.TimeoutExpired:
                    if timeout is not None and time.monotonic() - started > timeout:
                        raise
                if progress:
                    for record in tail.new_records():
                        print(progress_line(algorithm, steps, record), flush=True)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if progress:
        for record in tail.new_records():
            print(progress_line(algorithm, steps, record), flush=True)
    _check_exit(process.returncode, f"{algorithm} training", log_path)
    return read_metrics(metrics_path)


def read_metrics(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(records: list[dict]) -> dict:
    """Validation accuracy and pass@4 at the first and last validation, mean entropy, u_per, noisy-branch
    fraction and step time over training (NaN for what the run did not log)."""
    validations = [(r["step"], r["data"]) for r in records if ACCURACY_KEY in r["data"]]
    train = [r["data"] for r in records if "timing_s/step" in r["data"]]
    if not validations or not train:
        raise RuntimeError(f"the run logged no validation ({len(validations)}) or training ({len(train)}) metrics")

    def mean(key: str) -> float:
        values = [d[key] for d in train if key in d]
        return sum(values) / len(values) if values else math.nan

    return {
        "steps": len(train),
        "val_acc_before": validations[0][1][ACCURACY_KEY],
        "val_acc_after": validations[-1][1][ACCURACY_KEY],
        "val_pass_before": validations[0][1].get(PASS_KEY, math.nan),
        "val_pass_after": validations[-1][1].get(PASS_KEY, math.nan),
        "val_acc_curve": [(step, data[ACCURACY_KEY]) for step, data in validations],
        "train_reward_first": train[0].get("critic/score/mean", math.nan),
        "train_reward_last": train[-1].get("critic/score/mean", math.nan),
        "entropy_mean": mean("actor/entropy"),
        "u_per_mean": mean("vogue/u_per_token_mean"),
        "noisy_frac_mean": mean("vogue/noisy_frac"),
        "step_time_s": mean("timing_s/step"),
    }


def validation_generations(work_dir: str, algorithm: str, val_file: str) -> list:
    """A run's validation dumps (one file per validation step, sampled at the run's val_kwargs) as
    ``recipe.vogue.evaluation.metrics.Generation``s, extra_info joined from ``val_file``."""
    from pathlib import Path

    from recipe.vogue.evaluation.run import convert_dump, identities
    from recipe.vogue.evaluation.metrics import SAMPLED, Generation

    rows = identities(val_file)
    generations = []
    for dump in sorted(Path(validation_dir(work_dir, algorithm)).glob("*.jsonl"), key=lambda path: int(path.stem)):
        lines = read_metrics(str(dump))
        generations += [Generation.from_dump(line) for line in convert_dump(lines, rows, SAMPLED, int(dump.stem))]
    return generations


def write_report(work_dir: str, algorithms: list[str], val_file: str) -> str:
    """WORK_DIR/report/ from each run's file-logger log and validation dumps (sampled at the run's
    val_kwargs; one table row per algorithm and validation step); returns the path of report.md."""
    from pathlib import Path

    from recipe.vogue.evaluation import report

    runs = []
    for algorithm in algorithms:
        run = report.load_run(algorithm.upper(), Path(work_dir) / "metrics" / f"{algorithm}.jsonl")
        run.generations = validation_generations(work_dir, algorithm, val_file)
        runs.append(run)
    report.write_report(runs, Path(work_dir) / "report")
    return os.path.join(work_dir, "report", "report.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.cpu.tiny_run", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=os.path.join(REPO_ROOT, "runs", "tiny"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algorithms", default="grpo,vogue", help=f"comma-separated, from {sorted(ALGORITHMS)}")
    parser.add_argument("overrides", nargs="*", help="hydra overrides passed to every training run")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = sorted(set(algorithms) - set(ALGORITHMS))
    if unknown:
        parser.error(f"unknown algorithms {unknown}; choose from {sorted(ALGORITHMS)}")
    try:
        return _run_all(args, algorithms)
    except RunFailed as failure:
        print(f"error: {failure.summary}", file=sys.stderr)
        return 1


def _run_all(args: argparse.Namespace, algorithms: list[str]) -> int:
    work_dir = os.path.abspath(args.work_dir)
    started = time.time()
    data_dir, model_dir = ensure_assets(work_dir, args.seed)
    summaries = {}
    for algorithm in algorithms:
        shutil.rmtree(validation_dir(work_dir, algorithm), ignore_errors=True)  # an earlier run's dumps
        log_path = os.path.join(work_dir, "logs", f"{algorithm}.log")
        print(f"[tiny] training {algorithm.upper()} for {args.steps} steps (verl's output: {log_path})", flush=True)
        metrics_path = os.path.join(work_dir, "metrics", f"{algorithm}.jsonl")
        records = train(algorithm, data_dir, model_dir, work_dir, args.steps, args.overrides, metrics_path, log_path,
                        progress=True)
        summaries[algorithm] = summarize(records)
    print_summary(summaries, time.time() - started)
    print(f"[tiny] report: {write_report(work_dir, algorithms, os.path.join(data_dir, 'val.parquet'))} "
          f"(curves: {os.path.join(work_dir, 'report', 'curves.png')})")
    return 0


def print_summary(summaries: dict[str, dict], wall_seconds: float) -> None:
    print("\n=== tiny CPU run: synthetic shapes; validation = 64 prompts × 4 samples at T = 1 ===")
    print("val acc = mean accuracy; pass@4 = unbiased pass@k at k = 4; — = not measured by this algorithm")
    print(f"{'algorithm':<10} {'steps':>5} {'val acc before':>14} {'after':>6} {'pass@4 before':>13} {'after':>6} "
          f"{'entropy':>8} {'u_per':>7} {'noisy':>6} {'s/step':>7}")
    for name, s in summaries.items():
        print(f"{name:<10} {s['steps']:>5} {_number(s['val_acc_before']):>14} {_number(s['val_acc_after']):>6} "
              f"{_number(s['val_pass_before']):>13} {_number(s['val_pass_after']):>6} {_number(s['entropy_mean']):>8} "
              f"{_number(s['u_per_mean'], 4):>7} {_number(s['noisy_frac_mean'], 2):>6} {_number(s['step_time_s'], 2):>7}")
        print(f"{'':<10} val acc by step: " + ", ".join(f"{step}: {acc:.3f}" for step, acc in s["val_acc_curve"]))
    print(f"total wall time {wall_seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
