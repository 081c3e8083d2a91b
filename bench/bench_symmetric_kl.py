"""Full-vocabulary symmetric KL: chunked (recipe.vogue.core.uncertainty) vs naive (both log_softmax materialised).

Each variant runs in a fresh subprocess; peak extra memory = peak RSS during the call − RSS with the
inputs already allocated (Linux: the peak is reset through /proc/self/clear_refs once inputs exist). Prints absolute numbers and the chunked/naive ratios.

    .venv/bin/python bench/bench_symmetric_kl.py [--tokens 1024] [--vocab 151936] [--chunk 128] [--dtype float32]
"""

import argparse
import json
import subprocess
import sys
import time

import torch


def naive_symmetric_kl(raw_logits, noisy_logits):
    log_p = torch.log_softmax(raw_logits.float(), -1)
    log_q = torch.log_softmax(noisy_logits.float(), -1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1)


def _status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure(variant, tokens, vocab, chunk, dtype, repeats):
    from recipe.vogue.core.uncertainty import symmetric_kl_from_logits

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    raw = (torch.randn(tokens, vocab, generator=gen) * 3).to(dtype)
    noisy = (raw.float() + torch.randn(tokens, vocab, generator=gen)).to(dtype)
    fn = (lambda: naive_symmetric_kl(raw, noisy)) if variant == "naive" else (
        lambda: symmetric_kl_from_logits(raw, noisy, chunk_size=chunk)
    )
    times, extra = [], []
    for _ in range(repeats):
        _reset_peak_rss()
        baseline = _status_bytes("VmRSS")
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        extra.append(_status_bytes("VmHWM") - baseline)
        del result
    return {"extra_bytes": max(extra), "seconds": min(times), "checksum": float(fn().sum())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=151_936)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["naive", "chunked"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    if args.child:
        print(json.dumps(measure(args.child, args.tokens, args.vocab, args.chunk, dtype, args.repeats)))
        return

    results = {}
    for variant in ("naive", "chunked"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, *sys.argv[1:]], check=True, capture_output=True, text=True
        )
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    naive, chunked = results["naive"], results["chunked"]
    mib = 2**20
    budget = 4 * args.chunk * args.vocab * 4
    print(f"symmetric KL, T={args.tokens} V={args.vocab} {args.dtype}, chunk={args.chunk}, 1 thread, best of {args.repeats}")
    print(f"  naive  : +{naive['extra_bytes'] / mib:8.1f} MiB  {naive['seconds']:.3f} s")
    print(f"  chunked: +{chunked['extra_bytes'] / mib:8.1f} MiB  {chunked['seconds']:.3f} s")
    print(f"  memory ratio chunked/naive = {chunked['extra_bytes'] / naive['extra_bytes']:.3f} (target <= 0.10)")
    print(f"  time   ratio chunked/naive = {chunked['seconds'] / naive['seconds']:.3f} (target <= 1.00)")
    print(f"  chunked extra / (4*chunk*V*4 B = {budget / mib:.1f} MiB) = {chunked['extra_bytes'] / budget:.3f} (target <= 1)")
    print(f"  results agree: {abs(naive['checksum'] - chunked['checksum']) <= 1e-4 * abs(naive['checksum'])}")


if __name__ == "__main__":
    main()
