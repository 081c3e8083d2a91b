"""Command line: convert a source dataset to verl parquet, or list / inspect / mix prepared files.

    python -m data_prep <name> --input SOURCE --output FILE.parquet [--split S] [--max-pixels N]
                        [--limit N] [--skip-bad] [--image-dir DIR] [--strict-columns]
    python -m data_prep list
    python -m data_prep inspect FILE.parquet
    python -m data_prep mix FILE.parquet ... --output FILE.parquet [--per-source-limit N]
    python -m data_prep synthetic --out-dir DIR ...

SIGTERM and SIGINT stop a command that writes with no partial or temporary file left and an earlier
output untouched; the exit status is then 128 + the signal number.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from data_prep.converters import EVALUATION, SPECS, TRAINING
from data_prep.images import DEFAULT_MAX_PIXELS

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """Raised by the SIGTERM/SIGINT handler, so the atomic writers clean up on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals():
    """SIGTERM (what timeout, Slurm and docker send) and SIGINT raise Stopped while the block runs
    (the default SIGTERM action would kill the process without cleaning up)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers can only be set there
        yield
        return

    def stop(signum, frame):
        raise Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _int_at_least(minimum: int, meaning: str):
    """An argparse type: an integer ≥ ``minimum``, else a usage error saying what the number means."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} ({meaning}), got {value}")
        return value

    return parse


def _list() -> str:
    lines = []
    for title, specs in (("training", TRAINING), ("evaluation", EVALUATION)):
        lines.append(f"{title}:")
        for spec in specs:
            extra = " (needs --image-dir)" if spec.needs_image_dir else ""
            lines.append(f"  {spec.name:<15} {spec.hub_id:<26} splits {', '.join(spec.splits)}{extra}")
            optional = f"; when present: {', '.join(sorted(spec.optional_columns))}" if spec.optional_columns else ""
            lines.append(f"  {'':<15} reads {', '.join(sorted(spec.columns))}{optional}")
    lines.append("other: synthetic (seeded shapes task for CPU runs), list, inspect FILE, mix FILES --output FILE")
    return "\n".join(lines)


def _convert(name: str, argv: list[str]) -> int:
    from data_prep.convert import convert
    from data_prep.sources import open_source

    spec = SPECS[name]
    parser = argparse.ArgumentParser(prog=f"python -m data_prep {name}", description=f"{spec.hub_id} → verl parquet")
    parser.add_argument(
        "--input", required=True, help="save_to_disk folder, hub-download folder, parquet/json/jsonl file, or hub id"
    )
    parser.add_argument("--output", required=True, help="the parquet file to write (atomically)")
    parser.add_argument("--split", default=spec.splits[0], help=f"{', '.join(spec.splits)} (default {spec.splits[0]})")
    parser.add_argument("--max-pixels", type=_int_at_least(0, "0 = never downscale"), default=DEFAULT_MAX_PIXELS,
                        help="downscale larger images, keeping aspect (0: never)")
    parser.add_argument("--limit", type=_int_at_least(1, "source rows to convert"), default=None,
                        help="convert only the first N source rows")
    parser.add_argument("--skip-bad", action="store_true", help="skip bad rows and count them, instead of stopping")
    parser.add_argument("--image-dir", help="folder relative image paths start in (default: the source's folder)")
    parser.add_argument("--strict-columns", action="store_true",
                        help="stop when the source has columns the converter does not read (default: report them)")
    parser.add_argument("--allow-extra-columns", action="store_true", help=argparse.SUPPRESS)  # deprecated no-op
    args = parser.parse_args(argv)
    source = open_source(args.input, args.split)
    summary = convert(
        spec, source, args.split, args.output, max_pixels=args.max_pixels or None, limit=args.limit,
        skip_bad=args.skip_bad, image_dir=args.image_dir, strict_columns=args.strict_columns,
    )
    print(summary.report(name, args.output))
    return 0


def _mix(argv: list[str]) -> int:
    from data_prep.mixing import mix

    parser = argparse.ArgumentParser(prog="python -m data_prep mix", description="concatenate prepared parquet files")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--output", required=True)
    parser.add_argument("--per-source-limit", type=_int_at_least(1, "rows kept per data_source"), default=None,
                        help="keep the first N rows of each data_source")
    args = parser.parse_args(argv)
    skipped: list[str] = []
    kept = mix(args.inputs, args.output, args.per_source_limit, skipped)
    for note in skipped:
        print(f"[mix] {note}")
    print(f"[mix] wrote {sum(kept.values())} rows to {args.output}: " + ", ".join(f"{k} {v}" for k, v in kept.items()))
    return 0


def _writing(command, argv: list[str]) -> int:
    """Run a command that writes files: errors become one line on stderr and exit status 1, a stop
    signal exit status 128 + its number."""
    from data_prep.io import OutputError

    try:
        with _stop_on_signals():
            return command(argv)
    except Stopped as stopped:
        print(f"stopped by {signal.Signals(stopped.signum).name}: no output written, an earlier one is unchanged",
              file=sys.stderr)
        return 128 + stopped.signum
    except OutputError as error:
        print(f"error: --output: {error}", file=sys.stderr)
    except (ValueError, OSError) as error:  # SourceError, ConversionError, PreparedFileError, I/O failures
        print(f"error: {error}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv else "-h"
    if command == "list":
        print(_list())
        return 0
    if command == "inspect" and len(argv) == 2:
        from data_prep.inspection import describe
        from data_prep.io import PreparedFileError

        try:
            print(describe(argv[1]))
        except PreparedFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if command == "mix":
        return _writing(_mix, argv[1:])
    if command == "synthetic":
        from data_prep import synthetic  # written separately; imported only when asked for

        return _writing(synthetic.main, argv[1:])
    if command in SPECS:
        return _writing(lambda rest: _convert(command, rest), argv[1:])
    print(__doc__.strip() + "\n\n" + _list(), file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
