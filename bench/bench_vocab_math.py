"""The log-prob stage's vocabulary math, eager vs compiled (``vogue.vocab_math``), per probed row.

    .venv/bin/python bench/bench_vocab_math.py [--device cpu|cuda] [--positions 256] [--vocab 151936]
                                               [--chunk 128] [--repeats 5] [--threads 2]

One probed row's work as the worker does it (``worker.vogue_forward_step``): from two branches' bf16 logits
[positions, V] (random, the paired branch a perturbation of the raw one), both entropies and the symmetric KL
(``vocab_math.paired_function``), ``--chunk`` positions at a time through ``measure_at_positions``; and a raw
row's entropy (``entropy_function``). The two modes run interleaved, after one warm-up call each (compilation
is timed separately); medians of --repeats, scaled to a 1,024-token response. Peak memory above the inputs:
``torch.cuda.max_memory_allocated`` on a GPU, peak RSS on Linux CPU (reset through /proc/self/clear_refs).
Prints the ratio compiled/eager and the faster mode, which is what ``vogue.vocab_math=auto`` should pick on
this device (auto follows verl's ``use_torch_compile``); the machine load before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.core.uncertainty import measure_at_positions  # noqa: E402
from recipe.vogue.core.vocab_math import entropy_function, paired_function  # noqa: E402

MODES = ("eager", "compiled")
ROW = 1024  # response tokens per row, as in the GPU probe


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_bytes(call, device: torch.device) -> int:
    """Peak memory above what is allocated before ``call()``."""
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        call()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = _rss("VmRSS")
    call()
    return _rss("VmHWM") - before


def timed(call, device: torch.device) -> float:
    synchronize(device)
    started = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - started


def stages(raw: torch.Tensor, paired: torch.Tensor, chunk: int) -> dict:
    """{(mode, what): call} for a probed row (both entropies + KL) and a raw row (entropy)."""
    index = torch.arange(raw.shape[0], device=raw.device)
    calls = {}
    for mode in MODES:
        measures, entropy = paired_function(mode, 1.0, "full"), entropy_function(mode, 1.0)
        calls[(mode, "probed row")] = lambda m=measures: measure_at_positions(m, chunk, index, paired, raw, outputs=3)
        calls[(mode, "raw row")] = lambda e=entropy: measure_at_positions(e, chunk, index, raw)
    return calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--positions", type=int, help="response positions of the row (default 1024 on a GPU, 256 on CPU)")
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--chunk", type=int, default=128, help="vogue.kl_chunk_size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    positions = args.positions or (ROW if device.type == "cuda" else 256)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    print(f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else f'cpu ({args.threads} threads)'}; "
          f"torch {torch.__version__}; V = {args.vocab}, {positions} positions per row, chunk {args.chunk}", flush=True)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    generator = torch.Generator().manual_seed(0)
    raw = (torch.randn(positions, args.vocab, generator=generator) * 3).to(torch.bfloat16)
    paired = (raw.float() + 0.3 * torch.randn(positions, args.vocab, generator=generator)).to(torch.bfloat16)
    raw, paired = raw.to(device), paired.to(device)
    calls = stages(raw, paired, args.chunk)
    for (mode, what), call in calls.items():  # warm-up; the first compiled call compiles
        seconds = timed(call, device)
        if mode == "compiled":
            print(f"first {what} call in compiled mode (compilation included): {seconds:.1f} s", flush=True)
    peaks = {key: peak_bytes(call, device) for key, call in calls.items()}
    times = {key: [] for key in calls}
    for _ in range(args.repeats):  # interleaved
        for key, call in calls.items():
            times[key].append(timed(call, device))
    scale = ROW / positions
    for what in ("probed row", "raw row"):
        medians = {mode: statistics.median(times[(mode, what)]) * scale for mode in MODES}
        for mode in MODES:
            values = times[(mode, what)]
            print(f"{what:>10} {mode:>8}: {medians[mode] * 1e3:9.2f} ms per {ROW}-token row (median of {len(values)}, "
                  f"{min(values) * scale * 1e3:.2f}–{max(values) * scale * 1e3:.2f}); peak above the inputs "
                  f"{peaks[(mode, what)] / 2**20:.1f} MiB", flush=True)
        ratio = medians["compiled"] / medians["eager"]
        print(f"{what:>10} compiled/eager: {ratio:.3f} ({'compiled' if ratio < 1 else 'eager'} is faster)", flush=True)
    print(f"fp32 [chunk, V] buffer: {args.chunk * args.vocab * 4 / 2**20:.1f} MiB", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
