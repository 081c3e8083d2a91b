"""GPU: the VOGUE log-prob stage's peak memory and time on one GPU, for a user to run on a node before a run.

    python bench/bench_paired_pass_gpu.py [--models qwen2_5_vl_3b qwen2_5_vl_7b] [--rows 5] [--prompt 563]
                                          [--response 1024] [--image-tokens 256] [--repeats 3]

A real-size model from the committed configs (recipe/vogue/config/models) with random bf16 weights, one
micro-batch at the launchers' paired budget (default 5 rows × 1,587 tokens = 7,935 ≤ PAIRED_MAX_TOKENS
8,192, 1,024 response tokens each, one image of 256 tokens per row), torch + transformers only (no verl, no
Ray; SDPA attention). The stage is the worker's (``worker.vogue_forward_step``) on one rank: ONE forward over
every row (log-probs, fp32 entropy at the response positions read in place, the probed rows' response
logits kept), then ONE paired forward over the probed rows under other pixels (log-probs, entropy, exact
symmetric KL against the kept logits) — with the project's own verl-free ``uncertainty`` functions.

Printed per model: the peak GPU memory above the weights of a fully probed micro-batch next to
``cost_model.paired_pass_peak_logits_bytes`` (logits only: activations come on top), and the stage's time at
p = 1 and p = ½ next to a plain forward with log-probs (GRPO's stage), and one probed row's vocabulary math
alone (both entropies + KL of its 1,024 response positions) beside the plain forward's time per row, for each
``--vocab-math`` mode, interleaved, medians of --repeats; the machine load. ``--model-dir DIR --device cpu`` runs it on a local (tiny) checkpoint instead.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.preflight.cost_model import paired_pass_peak_logits_bytes, target_model_config, vocabulary_size  # noqa: E402
from recipe.vogue.core.uncertainty import measure_at_positions  # noqa: E402
from recipe.vogue.core.vocab_math import entropy_function, paired_function  # noqa: E402

GIB = 2**30


def build_inputs(config, rows: int, prompt: int, response: int, image_tokens: int, device, dtype, seed: int) -> dict:
    """Equal-length rows: [vision_start, image × image_tokens, vision_end, text …, response …], one image each,
    its pixels and grid, and a second set of pixels (the paired branch's) of the same grid."""
    vision = config.vision_config
    merge = vision.spatial_merge_size
    side = math.isqrt(image_tokens)
    if side * side != image_tokens or prompt < image_tokens + 3:
        raise ValueError(f"--image-tokens {image_tokens} must be a square below --prompt {prompt} - 2")
    generator = torch.Generator().manual_seed(seed)
    special = torch.tensor([config.image_token_id, config.vision_start_token_id, config.vision_end_token_id,
                            getattr(config, "video_token_id", config.image_token_id)])
    text = torch.arange(vocabulary_size(config))
    text = text[~torch.isin(text, special)]
    ids = text[torch.randint(0, text.numel(), (rows, prompt + response), generator=generator)]
    ids[:, 0] = config.vision_start_token_id
    ids[:, 1 : 1 + image_tokens] = config.image_token_id
    ids[:, 1 + image_tokens] = config.vision_end_token_id
    patches = (side * merge) ** 2
    patch_dim = vision.in_channels * vision.temporal_patch_size * vision.patch_size**2
    pixels = [torch.rand(rows * patches, patch_dim, generator=generator).to(device, dtype) for _ in range(2)]
    return {"input_ids": ids.to(device), "pixel_values": pixels[0], "paired_pixel_values": pixels[1],
            "image_grid_thw": torch.tensor([[1, side * merge, side * merge]] * rows, device=device),
            "patches_per_row": patches, "response": response}


def model_inputs(model, inputs: dict, rows: list[int], paired: bool) -> dict:
    """The forward's keyword arguments for ``rows`` (all rows share one layout), own or paired pixels."""
    patches = inputs["patches_per_row"]
    pixels = inputs["paired_pixel_values" if paired else "pixel_values"]
    pixel_rows = torch.cat([torch.arange(r * patches, (r + 1) * patches) for r in rows]).to(pixels.device)
    ids = inputs["input_ids"][rows]
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": pixels[pixel_rows],
              "image_grid_thw": inputs["image_grid_thw"][rows], "use_cache": False}
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:
        kwargs["mm_token_type_ids"] = (ids == model.config.image_token_id).long()
    return kwargs


def response_index(rows: int, length: int, response: int) -> torch.Tensor:
    """Flat indices of the positions predicting response tokens (L − R − 1 … L − 2 of each row)."""
    positions = torch.arange(length - response - 1, length - 1)
    return (torch.arange(rows)[:, None] * length + positions[None, :]).reshape(-1)


def sampled_log_probs(logits: torch.Tensor, index: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    flat = logits.reshape(-1, logits.shape[-1])
    out = torch.empty(index.numel(), device=logits.device)
    for start in range(0, index.numel(), chunk):
        part = flat[index[start : start + chunk].to(flat.device)].float()
        out[start : start + chunk] = part.log_softmax(-1).gather(-1, labels[start : start + chunk, None]).squeeze(-1)
    return out


@torch.no_grad()
def plain_stage(model, inputs: dict, chunk: int) -> None:
    """GRPO's old-log-prob stage on this micro-batch: one forward, the sampled tokens' log-probs."""
    rows = list(range(inputs["input_ids"].shape[0]))
    length, response = inputs["input_ids"].shape[1], inputs["response"]
    logits = model(**model_inputs(model, inputs, rows, paired=False)).logits
    index = response_index(len(rows), length, response)
    sampled_log_probs(logits, index, inputs["input_ids"].reshape(-1)[index + 1].to(logits.device), chunk)


@torch.no_grad()
def vogue_stage(model, inputs: dict, probed: list[int], chunk: int, vocab_math: str) -> None:
    """The worker's stage on one rank (see the module docstring), its vocabulary math under ``vocab_math``."""
    rows = list(range(inputs["input_ids"].shape[0]))
    length, response = inputs["input_ids"].shape[1], inputs["response"]
    labels = inputs["input_ids"].reshape(-1)
    logits = model(**model_inputs(model, inputs, rows, paired=False)).logits
    index = response_index(len(rows), length, response).to(logits.device)
    sampled_log_probs(logits, index, labels[index + 1], chunk)
    kept_index = response_index(len(rows), length, response).reshape(len(rows), -1)[probed].reshape(-1).to(logits.device)
    measure_at_positions(entropy_function(vocab_math, 1.0), chunk, index[~torch.isin(index, kept_index)], logits)
    if not probed:
        return
    kept = logits.reshape(-1, logits.shape[-1])[kept_index]
    del logits
    paired = model(**model_inputs(model, inputs, probed, paired=True)).logits
    index = response_index(len(probed), length, response).to(paired.device)
    sampled_log_probs(paired, index, labels[kept_index + 1], chunk)
    measure_at_positions(paired_function(vocab_math, 1.0, "full"), chunk, index, paired, kept, outputs=3)


def vocab_math_stage(logits: torch.Tensor, paired: torch.Tensor, chunk: int, vocab_math: str) -> None:
    """A probed row's vocabulary math alone: both entropies and the KL of its response positions."""
    index = torch.arange(paired.shape[0], device=paired.device)
    measure_at_positions(paired_function(vocab_math, 1.0, "full"), chunk, index, paired, logits, outputs=3)


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(stage, device) -> float:
    synchronize(device)
    started = time.perf_counter()
    stage()
    synchronize(device)
    return time.perf_counter() - started


def bench_model(name: str, args, device, dtype) -> None:
    from transformers import AutoModelForImageTextToText

    config = target_model_config(name)
    config._attn_implementation = "sdpa"
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype).eval()
    inputs = build_inputs(model.config, args.rows, args.prompt, args.response, args.image_tokens, device, dtype, seed=0)
    rows = list(range(args.rows))
    tokens, response_tokens = args.rows * (args.prompt + args.response), args.rows * args.response
    vocabulary = vocabulary_size(model.config)
    print(f"== {name}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters, V = {vocabulary}, "
          f"{args.rows} rows × {args.prompt + args.response} tokens = {tokens} ({response_tokens} response)", flush=True)
    with torch.no_grad():  # one row's response logits under each branch, for the vocabulary math alone
        one_row = response_index(1, args.prompt + args.response, args.response).to(device)
        row_logits = [model(**model_inputs(model, inputs, [0], paired=branch)).logits.reshape(-1, vocabulary)[one_row]
                      for branch in (False, True)]
    stages = {"plain forward": lambda: plain_stage(model, inputs, args.chunk)}
    for mode in args.vocab_math:
        stages[f"vogue p=1 {mode}"] = lambda m=mode: vogue_stage(model, inputs, rows, args.chunk, m)
        stages[f"vogue p=1/2 {mode}"] = lambda m=mode: vogue_stage(model, inputs, rows[: args.rows // 2 or 1], args.chunk, m)
        stages[f"vocab math/row {mode}"] = lambda m=mode: vocab_math_stage(*row_logits, args.chunk, m)
    for stage in stages.values():  # warm-up
        stage()
    estimate = paired_pass_peak_logits_bytes(tokens, vocabulary, torch.finfo(dtype).bits // 8, args.chunk,
                                             response_tokens / tokens)
    for mode in args.vocab_math if device.type == "cuda" else ():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        weights = torch.cuda.memory_allocated(device)
        stages[f"vogue p=1 {mode}"]()
        peak = torch.cuda.max_memory_allocated(device) - weights
        print(f"peak above the weights, fully probed micro-batch ({mode}): {peak / GIB:.2f} GiB; estimate (logits "
              f"only) {estimate / GIB:.2f} GiB; measured/estimate {peak / estimate:.3f}", flush=True)
    times = {label: [] for label in stages}
    for _ in range(args.repeats):  # interleaved
        for label, stage in stages.items():
            times[label].append(timed(stage, device))
    plain = statistics.median(times["plain forward"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:>24}: {median * 1e3:8.1f} ms (median of {len(values)}; {min(values) * 1e3:.1f}–"
              f"{max(values) * 1e3:.1f}), ratio to the plain forward {median / plain:.3f}", flush=True)
    print(f"{'plain forward per row':>24}: {plain / args.rows * 1e3:8.1f} ms (beside each vocab math/row)", flush=True)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["qwen2_5_vl_3b", "qwen2_5_vl_7b"],
                        help="committed configs (recipe/vogue/config/models) or model directories")
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--prompt", type=int, default=563, help="prompt tokens per row, image tokens included")
    parser.add_argument("--response", type=int, default=1024)
    parser.add_argument("--image-tokens", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=128, help="vogue.kl_chunk_size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab-math", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"],
                        help="vogue.vocab_math modes to time (interleaved) and measure the peak of")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cuda":
        print(f"device {torch.cuda.get_device_name(device)}; torch {torch.__version__}", flush=True)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    for name in args.models:
        bench_model(name, args, device, dtype)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
