"""Sizes a run needs, estimated from the TARGET model's config (pure; used by the preflight).

The committed ``config/models/<name>/config.json`` files are the published Qwen2.5-VL-3B/7B and
Qwen3-VL-4B/8B configs, so a CPU node with only a stand-in processor can still estimate a real run.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MODEL_CONFIGS", "target_model_config", "parameter_count", "lora_parameter_count", "vocabulary_size",
           "checkpoint_bytes",
           "paired_pass_peak_logits_bytes", "dummy_forward_share", "vogue_overhead_from_flops",
           "vogue_overhead_from_released_timing", "predicted_step_overheads"]

MODEL_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config", "models")


def target_model_config(name_or_path: str):
    """A transformers config: a committed fixture by name (``qwen2_5_vl_7b``), else ``from_pretrained``."""
    from transformers import AutoConfig

    fixture = os.path.join(MODEL_CONFIGS, name_or_path)
    return AutoConfig.from_pretrained(fixture if os.path.isdir(fixture) else name_or_path)


def parameter_count(config: Any) -> int:
    """Exact number of parameters, from a model built on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


def lora_parameter_count(config: Any, rank: int, target_modules, exclude_modules=None) -> int:
    """Exact number of LoRA parameters (Σ over adapted linears of rank·(in + out)): peft's own ``get_peft_model``
    on a model built on the meta device, with verl's ``LoraConfig`` settings (``target_modules`` such as
    ``all-linear``, ``exclude_modules`` a regex matched against full module names)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    targets = target_modules if isinstance(target_modules, str) else list(target_modules)
    with torch.device("meta"):
        model = get_peft_model(AutoModelForImageTextToText.from_config(config),
                               LoraConfig(r=rank, target_modules=targets, exclude_modules=exclude_modules, task_type="CAUSAL_LM"))
    return sum(parameter.numel() for name, parameter in model.named_parameters() if "lora_" in name)


def vocabulary_size(config: Any) -> int:
    text = getattr(config, "text_config", None) or config
    return int(text.vocab_size)


def checkpoint_bytes(parameters: int, save_contents, lora_parameters: int = 0, lora_only: bool = False) -> int:
    """One verl FSDP checkpoint: model in fp32 (4 B/param), AdamW's two fp32 moments (8 B/param) when the
    optimizer is saved, and a bf16 Hugging Face copy (2 B/param) when ``hf_model`` is in save_contents.
    With LoRA (``lora_parameters`` > 0) the model holds base and adapters (only the adapters with
    ``checkpoint.save_lora_only``), the optimizer only the adapters' moments, the Hugging Face copy both."""
    contents = set(save_contents or ())
    model = lora_parameters if lora_only and lora_parameters else parameters + lora_parameters
    trained = lora_parameters or parameters
    return 4 * model * ("model" in contents) + 8 * trained * ("optimizer" in contents) + \
        2 * (parameters + lora_parameters) * ("hf_model" in contents)


def paired_pass_peak_logits_bytes(tokens: int, vocabulary: int, logits_bytes: int = 2, chunk_size: int = 128,
                                  response_fraction: float = 1.0) -> int:
    """Peak memory of the logits in one probed micro-batch of the log-prob stage (``worker.vogue_forward_step``):
    the raw forward's T·V logits, of which the probed rows' response positions (≤ response_fraction·T) are
    copied and kept while the paired forward's (≤ T)·V logits live; entropies and KL are read from the
    logits in place, chunk by chunk. So at most (1 + response_fraction)·tokens·V logits in the compute dtype,
    plus the chunked fp32 KL/entropy temporaries of ``vogue.vocab_math=eager`` (3 × [chunk, V]; the compiled
    mode keeps none, measured by bench/bench_vocab_math.py, so this stays an upper bound for both). Model
    weights and activations come on top.
    (The stage before issue 20 also copied the paired forward's response logits: T·V + 2·R·V, measured at
    5.15 GiB above a Qwen2.5-VL-3B's weights for 5 × 1,587 tokens with 1,024 response tokens each.)"""
    return int((1 + response_fraction) * tokens * vocabulary * logits_bytes) + 3 * chunk_size * vocabulary * 4


def dummy_forward_share(probability: float, rows_per_micro_batch: int, ranks: int) -> float:
    """Expected share of the log-prob stage's forward tokens spent on discarded one-row forwards
    (``worker.vogue_forward_step``): a rank's micro-batch of m rows, each probed with probability p, runs one
    when it has no probed row while another of the W ranks has, P = (1 − p)^m · (1 − (1 − p)^{m(W − 1)}); the
    row is ~1/m of the raw forward's tokens, and the stage's forwards cost (1 + p) raw forwards on average
    (rows of equal length), so the share is P / m / (1 + p)."""
    p, m = probability, rows_per_micro_batch
    dummy = (1 - p) ** m * (1 - (1 - p) ** (m * (ranks - 1)))
    return dummy / m / (1 + p)


# The authors' measured step times (paper Table 13): GRPO 4.12 min, VOGUE/DUPL 4.95 min, whose released code
# runs TWO extra teacher-forced forwards per response (a raw recompute and the noisy pass).
RELEASED_GRPO_MINUTES, RELEASED_VOGUE_MINUTES, RELEASED_EXTRA_FORWARDS = 4.12, 4.95, 2


def vogue_overhead_from_flops(extra_forwards_per_response: float, update_forward_multiple: float = 4.0) -> float:
    """Extra step FLOPs of e extra forwards per response over GRPO, with 2·N FLOPs per token per forward (N
    parameters, T = prompt + response tokens): generation 2NT (prefill + decode), old log-probs 2NT, the update
    u·2NT (forward + recomputation under gradient checkpointing + a backward of twice a forward: u = 4), so
    e·2NT / (2NT + 2NT + u·2NT) = e / (2 + u), independent of N and T. It treats generation as efficient as
    training, which overstates the overhead."""
    return extra_forwards_per_response / (2.0 + update_forward_multiple)


def vogue_overhead_from_released_timing(extra_forwards_per_response: float) -> float:
    """Calibrated on the authors' GPUs: their +0.83 min (4.12 → 4.95) bought 2 extra forwards per response, so
    one forward per response costs 0.415 min of a 4.12-min GRPO step (10.1%); e forwards cost e × that."""
    per_forward = (RELEASED_VOGUE_MINUTES - RELEASED_GRPO_MINUTES) / RELEASED_EXTRA_FORWARDS
    return extra_forwards_per_response * per_forward / RELEASED_GRPO_MINUTES


def predicted_step_overheads(mean_probed_fraction: float = 0.5) -> dict[str, str]:
    """VOGUE/GRPO step-time overhead per mechanism at 3B/7B, two ways (FLOPs only; calibrated on the released
    timing). ``rollout_from=raw`` adds the probed fraction p̄ of a forward per response (0.5 over a linear
    schedule); the released code adds 2 forwards on every response."""
    modes = {f"rollout_from=raw (this project, p̄ = {mean_probed_fraction:.2f})": mean_probed_fraction,
             "the released code (2 extra forwards per response)": float(RELEASED_EXTRA_FORWARDS)}
    return {name: f"{vogue_overhead_from_flops(extra):+.1%} by FLOPs, {vogue_overhead_from_released_timing(extra):+.1%} "
                  f"calibrated on the authors' measured +{RELEASED_VOGUE_MINUTES / RELEASED_GRPO_MINUTES - 1:.1%}"
            for name, extra in modes.items()}
