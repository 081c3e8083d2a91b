"""Step time of each rollout mechanism on the tiny CPU run (README "Rollout mechanisms"), measured in one run.

    .venv/bin/python bench/bench_rollout_modes.py [--steps 5] [--work-dir runs/bench_modes]

The tiny model and the synthetic task of the main job (16 prompts × n = 4 per step; NoisyRollout and its
GRPO baseline with 2n = 8), the modes run one after the other, each a fresh process; means over steps
2..N of the step time, generation and old-log-prob stage; load average around each run.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--work-dir", default=os.path.join(tiny_run.REPO_ROOT, "runs", "bench_modes"))
    args = parser.parse_args()
    work_dir = os.path.abspath(args.work_dir)
    data_dir, model_dir = tiny_run.ensure_assets(os.path.join(tiny_run.REPO_ROOT, "runs", "tiny"), seed=0)
    print(f"tiny CPU run, {args.steps} steps per mode, means over steps 2..{args.steps}")
    for number, (name, (algorithm, overrides)) in enumerate(MODES.items()):
        load = os.getloadavg()[0]
        records = tiny_run.train(algorithm, data_dir, model_dir, work_dir, args.steps,
                                 [*COMMON, f"vogue.schedule.total_steps={2 * args.steps}", *overrides],
                                 os.path.join(work_dir, f"{number}.jsonl"), os.path.join(work_dir, f"{number}.log"))
        steps = [r["data"] for r in records if "timing_s/step" in r["data"]][1:]

        def mean(key):
            return statistics.fmean(d.get(key, 0.0) for d in steps)

        print(f"  {name:<38} {mean('timing_s/step'):6.2f} s/step   gen {mean('timing_s/gen'):5.2f} s   "
              f"log-prob {mean('timing_s/old_log_prob'):5.2f} s   update {mean('timing_s/update_actor'):5.2f} s   "
              f"load {load:.1f}→{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
