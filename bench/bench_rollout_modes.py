"""Step time of each rollout mechanism on the tiny CPU run (docs/reproducing.md "Rollout mechanisms"), measured in one run.

    .venv/bin/python bench/bench_rollout_modes.py [--steps 4] [--rounds 2] [--work-dir runs/bench_modes]

The tiny model and the synthetic task of the main job (16 prompts × n = 4 per step; NoisyRollout and its
GRPO baseline with 2n = 8). The modes are INTERLEAVED: each round trains every mode once (a fresh process
each), so slow phases of a shared machine hit all modes alike. Per mode: the mean over steps 2..N of the
step time, generation and old-log-prob stage, and its ratio to GRPO (n = 4) of the same round — median and
range over rounds — with the load average around each run.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.cpu import tiny_run  # noqa: E402

COMMON = ["trainer.val_before_train=false", "trainer.test_freq=-1"]
MODES = {
    "GRPO (n = 4)": ("grpo", []),
    "VOGUE rollout_from=raw": ("vogue", ["vogue.rollout_from=raw"]),
    "VOGUE rollout_from=noisy_branch": ("vogue", ["vogue.rollout_from=noisy_branch"]),
    "VOGUE rollout_from=paper_two_groups": ("vogue", ["vogue.rollout_from=paper_two_groups"]),
    "GRPO (2n = 8)": ("grpo", ["actor_rollout_ref.rollout.n=8"]),
    "NoisyRollout (4 clean + 4 noisy)": ("vogue", ["vogue.enable=false", "noisyrollout=k12",
                                                   "actor_rollout_ref.rollout.n=8",
                                                   "actor_rollout_ref.actor.freeze_vision_tower=true"]),
}


def _means(records) -> dict[str, float]:
    steps = [r["data"] for r in records if "timing_s/step" in r["data"]][1:]
    return {key: statistics.fmean(d.get(f"timing_s/{key}", 0.0) for d in steps) for key in ("step", "gen", "old_log_prob")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work-dir", default=os.path.join(tiny_run.REPO_ROOT, "runs", "bench_modes"))
    args = parser.parse_args()
    work_dir = os.path.abspath(args.work_dir)
    data_dir, model_dir = tiny_run.ensure_assets(os.path.join(tiny_run.REPO_ROOT, "runs", "tiny"), seed=0)
    print(f"tiny CPU run, {args.steps} steps per run, means over steps 2..{args.steps}, {args.rounds} interleaved rounds",
          flush=True)
    results: dict[str, list[dict]] = {name: [] for name in MODES}
    for round_index in range(args.rounds):
        for number, (name, (algorithm, overrides)) in enumerate(MODES.items()):
            load = os.getloadavg()[0]
            records = tiny_run.train(algorithm, data_dir, model_dir, work_dir, args.steps,
                                     [*COMMON, f"vogue.schedule.total_steps={2 * args.steps}", *overrides],
                                     os.path.join(work_dir, f"{round_index}_{number}.jsonl"),
                                     os.path.join(work_dir, f"{round_index}_{number}.log"))
            results[name].append({**_means(records), "load": (load, os.getloadavg()[0])})
            print(f"  round {round_index + 1}  {name:<38} {results[name][-1]['step']:6.2f} s/step   "
                  f"load {load:.1f}→{os.getloadavg()[0]:.1f}", flush=True)
    baseline = results[next(iter(MODES))]
    print(f"\n{'mode':<38} {'s/step':>7} {'/ GRPO n=4 (range)':>22} {'gen s':>7} {'log-prob s':>11}  load")
    for name, runs in results.items():
        ratios = [run["step"] / base["step"] for run, base in zip(runs, baseline)]
        loads = [value for run in runs for value in run["load"]]
        print(f"{name:<38} {statistics.median(r['step'] for r in runs):7.2f} "
              f"{statistics.median(ratios):9.2f} ({min(ratios):.2f}–{max(ratios):.2f})   "
              f"{statistics.median(r['gen'] for r in runs):7.2f} {statistics.median(r['old_log_prob'] for r in runs):11.2f}"
              f"  {min(loads):.1f}–{max(loads):.1f}", flush=True)


if __name__ == "__main__":
    main()
