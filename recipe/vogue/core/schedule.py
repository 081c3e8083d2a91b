"""Noisy-branch schedule (METHOD.md §4) and NoisyRollout's noise-step decay (METHOD.md §7). Pure."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Literal

import torch

__all__ = [
    "SCHEDULES",
    "GRANULARITIES",
    "noisy_branch_probability",
    "draw_noisy_branch",
    "diffusion_noise_step",
]

SCHEDULES = ("linear", "fixed", "cosine")
GRANULARITIES = ("sample", "group", "worker", "step")


def noisy_branch_probability(
    step: int,
    total_steps: int,
    schedule: Literal["linear", "fixed", "cosine"] = "linear",
    start: float = 1.0,
    end: float = 0.0,
    fixed: float = 0.5,
) -> float:
    """p_noi(s), the probability that a sample is drawn into the noisy branch at training step s.

    With progress x = clamp(s / s_total, 0, 1):
    - linear: p = start + (end − start)·x   (paper: start=1, end=0, i.e. max(0, 1 − s/s_total))
    - cosine: p = end + (start − end)·½(1 + cos(π·x))
    - fixed:  p = fixed                     (ablation "fixed p = 0.5")
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    for name, value in (("start", start), ("end", end), ("fixed", fixed)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"schedule {name} must be in [0, 1], got {value}")
    if schedule == "fixed":
        return float(fixed)
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0 for the {schedule} schedule, got {total_steps}")
    progress = min(max(step / total_steps, 0.0), 1.0)
    if schedule == "linear":
        return float(start + (end - start) * progress)
    return float(end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def draw_noisy_branch(
    num_samples: int,
    group_index: Sequence[Hashable] | None,
    p: float,
    granularity: Literal["sample", "group", "worker", "step"] = "sample",
    generator: torch.Generator | None = None,
    shards: int | None = None,
) -> torch.Tensor:
    """z ∈ {0,1}^num_samples: which samples belong to the noisy branch (samples in generation order).

    - sample: z_i ~ Bernoulli(p) independently per response (paper).
    - group:  one Bernoulli(p) per prompt group (responses sharing ``group_index``).
    - worker: one Bernoulli(p) per block of W = ``shards`` contiguous blocks (block b holds samples
      ⌊b·N/W⌋ … ⌊(b+1)·N/W⌋ − 1, equal when W divides N): the released code draws once per
      data-parallel worker, so the noisy fraction of a step is Binomial(W, p)/W.
    - step:   one Bernoulli(p) for the whole batch (all or nothing).
    ``group_index`` (e.g. verl's per-sample ``uid``) is required for "group" and checked for length.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if group_index is not None and len(group_index) != num_samples:
        raise ValueError(f"group_index has {len(group_index)} entries for {num_samples} samples")
    if granularity == "sample":
        return torch.rand(num_samples, generator=generator) < p
    if granularity == "step":
        return (torch.rand((), generator=generator) < p).expand(num_samples).clone()
    if granularity == "worker":
        if shards is None or shards < 1:
            raise ValueError(f"granularity 'worker' needs shards >= 1, got {shards}")
        block_draws = torch.rand(shards, generator=generator) < p
        bounds = [b * num_samples // shards for b in range(shards + 1)]
        return block_draws.repeat_interleave(torch.tensor(bounds).diff())
    if group_index is None:
        raise ValueError("granularity 'group' needs group_index")
    groups = {key: i for i, key in enumerate(dict.fromkeys(group_index))}
    group_draws = torch.rand(len(groups), generator=generator) < p
    return group_draws[torch.tensor([groups[key] for key in group_index], dtype=torch.long)]


def diffusion_noise_step(
    step: int, total_steps: int, initial_step: int = 500, sharpness: float = 30.0, midpoint: float = 40.0
) -> int:
    """NoisyRollout's annealed diffusion step: t = int(t0 · (1 − sigmoid(c·(s − s_mid)/S))).

    t0 = ``initial_step`` (500 Geo3K, 450 K12), c = ``sharpness`` (30 Geo3K, 60 K12), s_mid = 40, S = total steps.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    decay = 1.0 - 1.0 / (1.0 + math.exp(-sharpness * (step - midpoint) / total_steps))
    return int(initial_step * decay)
