"""VOGUE vs GRPO on the CPU backend, where forwards dominate a step: paired ratios measured in one run.

    .venv/bin/python bench/bench_vogue_vs_grpo.py [--pairs 5] [--steps 6] [--work-dir runs/bench_small]
                                                  [--ranks 2 --log-prob-micro-batch 4]

The model is the "small" tiny Qwen2.5-VL (``python -m recipe.vogue.cpu.tiny build --size small``, ~16.8M
parameters, random weights: every response runs to the length cap, so the work per step is steady). On
this CPU its forwards and backward are most of a step, as a 3B/7B model's are on GPUs — on the 0.2M
tiny model a forward costs nothing and a step ratio only measures fixed costs and machine load.

GRPO and VOGUE (``paper`` preset: full-vocabulary KL, linear schedule over the run) train INTERLEAVED,
A B A B …, each pair on the same data order and seed; each run is a fresh process (a new Ray
cluster). Per run: means over steps 2..N of the step time, the old-log-prob stage, the noisy-input wait
and the probed fraction. ``--ranks 2`` trains with 2 data-parallel ranks, where a rank without a probed row
in a micro-batch runs a discarded one-row forward whenever the other has one (``cost_model.dummy_forward_share``
predicts its share; small ``--log-prob-micro-batch`` sizes make it frequent). Printed: the median and range over pairs of the paired ratios VOGUE/GRPO, the
load average around each run, and the analytic prediction for the GPU runs (``cost_model``).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.preflight import cost_model  # noqa: E402
from recipe.vogue.cpu import tiny
from recipe.vogue.cpu import tiny_run  # noqa: E402

NO_VALIDATION = ["trainer.val_before_train=false", "trainer.test_freq=-1"]


def run(algorithm: str, work_dir: str, data_dir: str, model_dir: str, steps: int, pair: int, extra: list[str]) -> dict:
    name = f"{algorithm}_{pair}"
    overrides = [*NO_VALIDATION, f"data.seed={pair}", f"vogue.schedule.total_steps={steps}", *extra]
    load_before = os.getloadavg()[0]
    records = tiny_run.train(algorithm, data_dir, model_dir, work_dir, steps, overrides,
                             os.path.join(work_dir, "metrics", f"{name}.jsonl"), os.path.join(work_dir, f"{name}.log"))
    measured = [r["data"] for r in records if "timing_s/step" in r["data"]][1:]  # step 1 warms workers up

    def mean(key: str, default: float = 0.0) -> float:
        return statistics.fmean(d.get(key, default) for d in measured)

    return {"step": mean("timing_s/step"), "log_prob": mean("timing_s/old_log_prob"),
            "wait": mean("timing_s/vogue_noisy_inputs_wait"), "probed": mean("vogue/probed_frac"),
            "load": (load_before + os.getloadavg()[0]) / 2}


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (range {min(values):.3f}–{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--work-dir", default=os.path.join(tiny_run.REPO_ROOT, "runs", "bench_small"))
    parser.add_argument("--ranks", type=int, choices=(1, 2), default=1, help="data-parallel trainer ranks")
    parser.add_argument("--log-prob-micro-batch", type=int, default=32, help="log-prob micro-batch rows per rank")
    args = parser.parse_args()
    extra = [*(tiny_run.TWO_RANKS if args.ranks == 2 else []),
             f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={args.log_prob_micro_batch}"]
    work_dir = os.path.abspath(args.work_dir)
    data_dir, _ = tiny_run.ensure_assets(os.path.join(tiny_run.REPO_ROOT, "runs", "tiny"), seed=0)
    model_dir = os.path.join(work_dir, "model")
    if not os.path.exists(os.path.join(model_dir, "tiny_build.json")):
        tiny.build(model_dir, seed=0, size="small")
    parameters = tiny.build_model(tiny.build_tokenizer(), size="small").num_parameters()
    pairs = []
    for pair in range(args.pairs):
        grpo = run("grpo", work_dir, data_dir, model_dir, args.steps, pair, extra)
        vogue = run("vogue", work_dir, data_dir, model_dir, args.steps, pair, extra)
        pairs.append((grpo, vogue))
        print(f"pair {pair}: step GRPO {grpo['step']:.2f} s / VOGUE {vogue['step']:.2f} s; log-prob "
              f"{grpo['log_prob']:.2f} / {vogue['log_prob']:.2f} s; probed {vogue['probed']:.2f}; wait "
              f"{vogue['wait'] * 1000:.0f} ms; load {grpo['load']:.2f} / {vogue['load']:.2f}", flush=True)
    probed = statistics.fmean(v["probed"] for _, v in pairs)
    print(f"\nsmall tiny Qwen2.5-VL, {parameters / 1e6:.1f}M parameters; {args.pairs} interleaved pairs of "
          f"{args.steps}-step runs (means over steps 2..{args.steps}); 16 prompts × 4 responses per step; "
          f"{args.ranks} rank(s), log-prob micro-batches of {args.log_prob_micro_batch} rows")
    if args.ranks > 1:
        schedule = [1 - s / args.steps for s in range(1, args.steps)]  # p(s) of the measured steps
        share = statistics.fmean(cost_model.dummy_forward_share(p, args.log_prob_micro_batch, args.ranks)
                                 for p in schedule)
        print(f"  predicted dummy-forward share of the stage's tokens: {share:.2%}")
    print(f"  step time VOGUE/GRPO:        {spread([v['step'] / g['step'] for g, v in pairs])}  (target <= 1.10)")
    print(f"  log-prob stage VOGUE/GRPO:   {spread([v['log_prob'] / g['log_prob'] for g, v in pairs])}  "
          f"(target <= 1 + 1.2·p̄ = {1 + 1.2 * probed:.3f})")
    print(f"  forwards per response:       GRPO 1.000, VOGUE {1 + probed:.3f} (1 + mean probed fraction p̄)")
    print(f"  noisy-input wait / step:     {spread([v['wait'] / v['step'] for _, v in pairs])}  (target <= 0.02)")
    print(f"  load average during runs:    {spread([x['load'] for pair in pairs for x in pair])}")
    for name, prediction in cost_model.predicted_step_overheads().items():
        print(f"  predicted GPU overhead, {name}: {prediction}")


if __name__ == "__main__":
    main()
