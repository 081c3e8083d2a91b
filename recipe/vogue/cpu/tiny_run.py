"""The tiny CPU run: build the synthetic data and the warm-started tiny model if missing, train with
verl's own loop on the CPU backend, and print validation accuracy before/after, entropy and step time.

    python -m recipe.vogue.cpu.tiny_run [--work-dir runs/tiny] [--steps 30] [-- hydra overrides...]

Each algorithm runs in its own process (a fresh Ray cluster) and logs metrics with verl's file
logger; the summary is read back from those files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(CONFIG_DIR)))
REWARD_FILE = os.path.join(REPO_ROOT, "vogue_reward", "verl_entry.py")
ACCURACY_KEY = "val-core/synthetic_shapes/acc/mean@4"

# algorithm name → (python -m module, config name, extra overrides). GRPO is verl's own entry point;
# VOGUE is recipe/vogue/main_vogue.py with its `paper` preset plus the same tiny CPU settings.
ALGORITHMS = {
    "grpo": ("verl.trainer.main_ppo", "tiny_cpu_grpo", []),
    # one perturbation thread: 56×56 images take <1 ms each, and threads only contend for 2 cores here
    "vogue": ("recipe.vogue.main_vogue", "vogue_trainer", ["+cpu=tiny", "vogue.perturb_workers=1"]),
}


def cpu_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(VERL_PLATFORM="cpu", WANDB_MODE="disabled", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def ensure_assets(work_dir: str, seed: int) -> tuple[str, str]:
    """Synthetic data and tiny model under ``work_dir`` (built once, reused afterwards)."""
    data_dir = os.path.join(work_dir, "data")
    model_dir = os.path.join(work_dir, "model")
    if not os.path.exists(os.path.join(data_dir, "val.parquet")):
        _run([sys.executable, "-m", "data_prep", "synthetic", "--out-dir", data_dir, "--seed", str(seed)])
    if not os.path.exists(os.path.join(model_dir, "tiny_build.json")):
        _run([sys.executable, "-m", "recipe.vogue.tiny", "build", "--out", model_dir, "--seed", str(seed),
              "--warm-start-data", os.path.join(data_dir, "train.parquet")])
    return data_dir, model_dir


def _run(command: list[str], env: dict | None = None) -> None:
    print("[tiny] $ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env or cpu_environment())


def training_command(algorithm: str, data_dir: str, model_dir: str, work_dir: str, steps: int, overrides: list[str]) -> list[str]:
    module, config_name, preset = ALGORITHMS[algorithm]
    return [
        sys.executable, "-m", module, "--config-path", CONFIG_DIR, "--config-name", config_name, *preset,
        f"data.train_files={os.path.join(data_dir, 'train.parquet')}",
        f"data.val_files={os.path.join(data_dir, 'val.parquet')}",
        f"actor_rollout_ref.model.path={model_dir}",
        f"reward.custom_reward_function.path={REWARD_FILE}",
        "reward.custom_reward_function.name=compute_score",
        f"trainer.total_training_steps={steps}",
        f"trainer.experiment_name={algorithm}",
        f"trainer.default_local_dir={os.path.join(work_dir, 'checkpoints', algorithm)}",
        *overrides,
    ]


def train(
    algorithm: str, data_dir: str, model_dir: str, work_dir: str, steps: int, overrides: list[str],
    metrics_path: str, log_path: str | None = None, timeout: float | None = None,
) -> list[dict]:
    """One training process on the CPU backend, logging metrics with verl's file logger to
    ``metrics_path``; returns the logged records. Output goes to the console, or to ``log_path``
    (a failure then raises with the end of that log)."""
    os.makedirs(os.path.dirname(metrics_path), exist_ok=True)
    env = cpu_environment()
    env["VERL_FILE_LOGGER_PATH"] = metrics_path
    command = training_command(algorithm, data_dir, model_dir, work_dir, steps, overrides)
    if log_path is None:
        _run(command, env=env)
    else:
        with open(log_path, "w") as log:
            result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        if result.returncode != 0:
            with open(log_path) as f:
                tail = f.read()[-5000:]
            raise RuntimeError(f"{algorithm} training exited with {result.returncode}; end of {log_path}:\n{tail}")
    return read_metrics(metrics_path)


def read_metrics(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(records: list[dict]) -> dict:
    """Validation accuracy at the first and last validation, mean entropy and step time over training."""
    validations = [(r["step"], r["data"][ACCURACY_KEY]) for r in records if ACCURACY_KEY in r["data"]]
    train = [r["data"] for r in records if "timing_s/step" in r["data"]]
    if not validations or not train:
        raise RuntimeError(f"the run logged no validation ({len(validations)}) or training ({len(train)}) metrics")

    def mean(key: str) -> float:
        values = [d[key] for d in train if key in d]
        return sum(values) / len(values) if values else math.nan

    return {
        "steps": len(train),
        "val_acc_before": validations[0][1],
        "val_acc_after": validations[-1][1],
        "val_acc_curve": validations,
        "train_reward_first": train[0].get("critic/score/mean", math.nan),
        "train_reward_last": train[-1].get("critic/score/mean", math.nan),
        "entropy_mean": mean("actor/entropy"),
        "u_per_mean": mean("vogue/u_per_token_mean"),
        "noisy_frac_mean": mean("vogue/noisy_frac"),
        "step_time_s": mean("timing_s/step"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.cpu.tiny_run", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=os.path.join(REPO_ROOT, "runs", "tiny"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algorithms", default="grpo,vogue", help=f"comma-separated, from {sorted(ALGORITHMS)}")
    parser.add_argument("overrides", nargs="*", help="hydra overrides passed to every training run")
    args = parser.parse_args(argv)
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = sorted(set(algorithms) - set(ALGORITHMS))
    if unknown:
        parser.error(f"unknown algorithms {unknown}; choose from {sorted(ALGORITHMS)}")
    work_dir = os.path.abspath(args.work_dir)
    started = time.time()
    data_dir, model_dir = ensure_assets(work_dir, args.seed)
    summaries = {}
    for algorithm in algorithms:
        metrics_path = os.path.join(work_dir, "metrics", f"{algorithm}.jsonl")
        records = train(algorithm, data_dir, model_dir, work_dir, args.steps, args.overrides, metrics_path)
        summaries[algorithm] = summarize(records)
    print_summary(summaries, time.time() - started)
    return 0


def print_summary(summaries: dict[str, dict], wall_seconds: float) -> None:
    print("\n=== tiny CPU run: synthetic shapes; validation accuracy = mean over 4 samples at T=1 ===")
    header = (f"{'algorithm':<10} {'steps':>5} {'val acc before':>14} {'val acc after':>13} {'entropy':>8} "
              f"{'u_per':>7} {'noisy':>6} {'step s':>7}")
    print(header)
    for name, s in summaries.items():
        print(f"{name:<10} {s['steps']:>5} {s['val_acc_before']:>14.3f} {s['val_acc_after']:>13.3f} "
              f"{s['entropy_mean']:>8.3f} {s['u_per_mean']:>7.4f} {s['noisy_frac_mean']:>6.2f} {s['step_time_s']:>7.2f}")
        print(f"{'':<10} val acc by step: " + ", ".join(f"{step}: {acc:.3f}" for step, acc in s["val_acc_curve"]))
    print(f"total wall time {wall_seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
