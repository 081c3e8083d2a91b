"""Command line: convert a source dataset to verl parquet, or list / inspect / mix prepared files.

    python -m data_prep <name> --input SOURCE --output FILE.parquet [--split S] [--max-pixels N]
                        [--limit N] [--skip-bad] [--image-dir DIR] [--allow-extra-columns]
    python -m data_prep list
    python -m data_prep inspect FILE.parquet
    python -m data_prep mix FILE.parquet ... --output FILE.parquet [--per-source-limit N]
    python -m data_prep synthetic --out-dir DIR ...
"""

from __future__ import annotations

import argparse
import sys

from data_prep.converters import EVALUATION, SPECS, TRAINING
from data_prep.images import DEFAULT_MAX_PIXELS


def _list() -> str:
    lines = []
    for title, specs in (("training", TRAINING), ("evaluation", EVALUATION)):
        lines.append(f"{title}:")
        for spec in specs:
            extra = " (needs --image-dir)" if spec.needs_image_dir else ""
            lines.append(f"  {spec.name:<15} {spec.hub_id:<26} splits {', '.join(spec.splits)}{extra}")
            lines.append(f"  {'':<15} expects {spec.expects}")
    lines.append("other: synthetic (seeded shapes task for CPU runs), list, inspect FILE, mix FILES --output FILE")
    return "\n".join(lines)


def _convert(name: str, argv: list[str]) -> int:
    from data_prep.convert import ConversionError, convert
    from data_prep.sources import SourceError, open_source

    spec = SPECS[name]
    parser = argparse.ArgumentParser(prog=f"python -m data_prep {name}", description=f"{spec.hub_id} → verl parquet")
    parser.add_argument(
        "--input", required=True, help="save_to_disk folder, hub-download folder, parquet/json/jsonl file, or hub id"
    )
    parser.add_argument("--output", required=True, help="the parquet file to write (atomically)")
    parser.add_argument("--split", default=spec.splits[0], help=f"{', '.join(spec.splits)} (default {spec.splits[0]})")
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="downscale larger images, keeping aspect (0: never)"
    )
    parser.add_argument("--limit", type=int, default=None, help="convert only the first N source rows")
    parser.add_argument("--skip-bad", action="store_true", help="skip bad rows and count them, instead of stopping")
    parser.add_argument("--image-dir", help="folder relative image paths start in (default: the source's folder)")
    parser.add_argument("--allow-extra-columns", action="store_true", help="ignore columns the converter does not know")
    args = parser.parse_args(argv)
    try:
        source = open_source(args.input, args.split)
        summary = convert(
            spec, source, args.split, args.output, max_pixels=args.max_pixels or None, limit=args.limit,
            skip_bad=args.skip_bad, image_dir=args.image_dir, allow_extra_columns=args.allow_extra_columns,
        )
    except (SourceError, ConversionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {args.output} was not written", file=sys.stderr)
        return 130
    print(summary.report(name, args.output))
    return 0


def _mix(argv: list[str]) -> int:
    from data_prep.mixing import mix

    parser = argparse.ArgumentParser(prog="python -m data_prep mix", description="concatenate prepared parquet files")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--output", required=True)
    parser.add_argument("--per-source-limit", type=int, default=None, help="keep the first N rows of each data_source")
    args = parser.parse_args(argv)
    kept = mix(args.inputs, args.output, args.per_source_limit)
    print(f"[mix] wrote {sum(kept.values())} rows to {args.output}: " + ", ".join(f"{k} {v}" for k, v in kept.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv else "-h"
    if command == "list":
        print(_list())
        return 0
    if command == "inspect" and len(argv) == 2:
        from data_prep.inspection import describe

        print(describe(argv[1]))
        return 0
    if command == "mix":
        return _mix(argv[1:])
    if command == "synthetic":
        from data_prep import synthetic  # written separately; imported only when asked for

        return synthetic.main(argv[1:])
    if command in SPECS:
        return _convert(command, argv[1:])
    print(__doc__.strip() + "\n\n" + _list(), file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
