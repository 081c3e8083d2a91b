"""``python -m recipe.vogue.evaluate``: score a checkpoint on prepared benchmark files (how it runs:
``recipe.vogue.evaluation.run``; docs/evaluation.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from recipe.vogue.cpu.tiny_run import cpu_environment
from recipe.vogue.evaluation import run
from recipe.vogue.evaluation.metrics import GREEDY, SAMPLED
from recipe.vogue.evaluation.run import EvaluationError, Pass, evaluate


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.evaluate", description=run.__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="HF model dir or hub id, or a verl checkpoint (global_step_N[/actor])")
    parser.add_argument("--data", required=True, nargs="+", help="benchmark parquet files (python -m data_prep)")
    parser.add_argument("--out", required=True, type=Path, help="output directory (rerun with the same one to resume)")
    parser.add_argument("--passes", default="greedy,sampled", help="comma-separated: greedy, sampled")
    parser.add_argument("--n", type=int, default=16, help="samples per prompt in the sampled pass")
    parser.add_argument("--temperature", type=float, default=0.6, help="sampled pass")
    parser.add_argument("--top-p", type=float, default=0.95, help="sampled pass")
    parser.add_argument("--shard-size", type=int, default=256, help="rows per val-only run")
    parser.add_argument("--val-batch-size", type=int, default=64,
                        help="prompts per validation batch of a run (x n responses with their images in memory)")
    parser.add_argument("--cpu", action="store_true", help="the CPU backend (+cpu=tiny, VERL_PLATFORM=cpu)")
    parser.add_argument("overrides", nargs="*", help="hydra overrides for every verl run (after --)")
    args = parser.parse_args(argv)
    misplaced = [path for path in args.data if "=" in path and not os.path.exists(path)]
    if misplaced:
        parser.error(f"--data {misplaced[0]}: looks like a hydra override; put overrides after --")
    names = [name.strip() for name in args.passes.split(",") if name.strip()]
    if not names or set(names) - {GREEDY, SAMPLED}:
        parser.error(f"--passes {args.passes!r}: choose from {GREEDY}, {SAMPLED}")
    if args.n < 1 or not args.temperature > 0 or not 0 < args.top_p <= 1:
        parser.error("the sampled pass needs --n >= 1, --temperature > 0 and --top-p in (0, 1]")
    available = {GREEDY: Pass(GREEDY, 1, 0.0, 1.0), SAMPLED: Pass(SAMPLED, args.n, args.temperature, args.top_p)}
    args.passes = [available[name] for name in dict.fromkeys(names)]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        report = evaluate(args.model, args.data, args.out, args.passes, args.shard_size, args.overrides,
                          cpu_environment() if args.cpu else None,
                          val_batch_size=args.val_batch_size)
    except (EvaluationError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"[eval] report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
