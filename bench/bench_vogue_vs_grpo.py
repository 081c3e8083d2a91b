"""VOGUE vs GRPO on the CPU backend: step time and teacher-forced forwards per response, same data, same run.

    .venv/bin/python bench/bench_vogue_vs_grpo.py [--steps 12] [--work-dir runs/bench]

Both algorithms train the tiny model (built once) for the same number of steps on the synthetic task,
one after the other. Step time is the mean of ``timing_s/step`` over steps 2..N (step 1 warms up
workers). Forwards per response and step: GRPO runs one (old log-probs); VOGUE adds the noisy pass
on the probed rows only, i.e. 1 + mean(vogue/probed_frac) ≈ 1 + mean p_noi(s) + monitor_fraction.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.cpu import tiny_run  # noqa: E402

NO_VALIDATION = ["trainer.val_before_train=false", "trainer.test_freq=-1"]


def run(algorithm: str, work_dir: str, data_dir: str, model_dir: str, steps: int) -> list[dict]:
    metrics_path = os.path.join(work_dir, "metrics", f"bench_{algorithm}.jsonl")
    log_path = os.path.join(work_dir, f"bench_{algorithm}.log")
    records = tiny_run.train(algorithm, data_dir, model_dir, work_dir, steps, NO_VALIDATION, metrics_path, log_path)
    return [r["data"] for r in records if "timing_s/step" in r["data"]]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--work-dir", default=os.path.join(tiny_run.REPO_ROOT, "runs", "bench"))
    args = parser.parse_args()
    work_dir = os.path.abspath(args.work_dir)
    data_dir, model_dir = tiny_run.ensure_assets(work_dir, seed=0)
    results = {algorithm: run(algorithm, work_dir, data_dir, model_dir, args.steps) for algorithm in ("grpo", "vogue")}
    step_time = {name: mean([d["timing_s/step"] for d in steps[1:]]) for name, steps in results.items()}
    log_prob_time = {name: mean([d["timing_s/old_log_prob"] for d in steps[1:]]) for name, steps in results.items()}
    probed = mean([d["vogue/probed_frac"] for d in results["vogue"]])
    p_noi = mean([d["vogue/p_noi"] for d in results["vogue"]])
    print(f"tiny CPU run, {args.steps} steps each (means over steps 2..{args.steps}); schedule p_noi linear 1 -> 0")
    print(f"  step time   GRPO {step_time['grpo']:.2f} s   VOGUE {step_time['vogue']:.2f} s   "
          f"ratio VOGUE/GRPO = {step_time['vogue'] / step_time['grpo']:.3f} (target <= 1.10)")
    print(f"  log-prob stage   GRPO {log_prob_time['grpo']:.2f} s   VOGUE {log_prob_time['vogue']:.2f} s   "
          f"ratio = {log_prob_time['vogue'] / log_prob_time['grpo']:.3f}")
    print(f"  teacher-forced forwards per response per step: GRPO 1.000   VOGUE {1 + probed:.3f} "
          f"(1 + mean probed fraction; mean p_noi = {p_noi:.3f}; at most 2)")


if __name__ == "__main__":
    main()
