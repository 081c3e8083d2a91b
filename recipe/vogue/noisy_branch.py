"""The noisy branch's inputs (METHOD.md §4–§5): branch draws and perturbed ``multi_modal_inputs``.

Rollouts come from the raw images; a row drawn into the noisy branch is teacher-forced once more under
a fresh perturbation T(image) of its own. The helpers here are pure (no verl, no Ray): deterministic
seeds, the draws for one training step, and the processor re-run that turns perturbed images into
``pixel_values`` while checking that nothing but the pixels changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
from PIL import Image

from recipe.vogue.perturb import PerturbationSpec, perturb_image
from recipe.vogue.schedule import draw_noisy_branch, noisy_branch_probability

__all__ = [
    "NoisyBranchError",
    "stable_seed",
    "BranchDraw",
    "draw_branches",
    "images_from_messages",
    "noisy_multi_modal_inputs",
]


class NoisyBranchError(RuntimeError):
    """The noisy pass would silently measure nothing (missing or unchanged pixels, changed grid)."""


def stable_seed(*parts: Hashable) -> int:
    """A 63-bit seed from ``parts`` that is the same in every process and every run (unlike ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclasses.dataclass(frozen=True)
class BranchDraw:
    """One step's draws: ``is_noisy`` (z_i), ``is_monitor`` (raw rows also probed), and p_noi."""

    is_noisy: torch.Tensor
    is_monitor: torch.Tensor
    probability: float

    @property
    def is_probed(self) -> torch.Tensor:
        """Rows that get the noisy forward: the noisy branch plus the monitored raw rows."""
        return self.is_noisy | self.is_monitor


def draw_branches(
    group_index: Sequence[Hashable],
    step: int,
    total_steps: int,
    seed: int,
    schedule: Mapping[str, Any],
    granularity: str,
    monitor_fraction: float,
) -> BranchDraw:
    """Draw z ~ Bernoulli(p_noi(step)) (per sample / group / step) and the monitored raw rows.

    ``step`` is 0-based progress (the first training step has p_noi = schedule start). The generator is
    seeded from (seed, step) only, so a resumed run redraws exactly what the original run drew.
    A raw row is monitored with probability ``monitor_fraction``: it gets the noisy forward so u_per
    stays visible late in training, but its advantage is shaped as a raw-branch sample.
    """
    generator = torch.Generator().manual_seed(stable_seed("branch", seed, step))
    probability = noisy_branch_probability(
        step,
        total_steps,
        schedule=schedule["type"],
        start=schedule["start"],
        end=schedule["end"],
        fixed=schedule["fixed"],
    )
    is_noisy = draw_noisy_branch(len(group_index), group_index, probability, granularity, generator)
    is_monitor = (torch.rand(len(group_index), generator=generator) < monitor_fraction) & ~is_noisy
    return BranchDraw(is_noisy, is_monitor, probability)


def images_from_messages(messages: Sequence[Mapping[str, Any]], image_patch_size: int) -> list[Image.Image]:
    """The images of a chat prompt, resized exactly as verl's agent loop resizes them for the rollout.

    verl's ``RLHFDataset.process_vision_info`` calls qwen_vl_utils' ``process_vision_info`` on the row's
    ``raw_prompt``; calling it again yields the same resized images whose processor output is the raw
    branch's ``multi_modal_inputs``.
    """
    from qwen_vl_utils import process_vision_info

    images, _ = process_vision_info(list(messages), image_patch_size=image_patch_size)
    return list(images or [])


def noisy_multi_modal_inputs(
    raw_inputs: Mapping[str, Any],
    images: Sequence[Image.Image],
    image_processor: Callable[..., Mapping[str, Any]],
    spec: PerturbationSpec,
    seed: int,
    row: int,
    processor_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``raw_inputs`` with ``pixel_values`` recomputed from T(image) (image k perturbed with seed (seed, k)).

    Raises ``NoisyBranchError`` naming ``row`` when the raw inputs have no pixel_values, when the
    perturbed images give a different ``image_grid_thw`` or pixel shape (the teacher-forced sequence would
    no longer match the image tokens), or when the new pixel_values equal the raw ones (u_per would be
    a silent 0 — the peer bug this guards against).
    """
    raw_pixels = raw_inputs.get("pixel_values")
    if raw_pixels is None:
        raise NoisyBranchError(f"row {row}: multi_modal_inputs has no pixel_values; the noisy branch needs images")
    if not images:
        raise NoisyBranchError(f"row {row}: the prompt has pixel_values but no image in raw_prompt")
    perturbed = [perturb_image(image, spec, stable_seed("image", seed, k)) for k, image in enumerate(images)]
    processed = image_processor(images=perturbed, return_tensors="pt", **dict(processor_kwargs or {}))
    noisy_pixels = processed.get("pixel_values")
    if noisy_pixels is None:
        raise NoisyBranchError(f"row {row}: the image processor returned no pixel_values for the perturbed images")
    raw_grid, noisy_grid = raw_inputs.get("image_grid_thw"), processed.get("image_grid_thw")
    if raw_grid is not None and (noisy_grid is None or not torch.equal(torch.as_tensor(raw_grid), noisy_grid)):
        raise NoisyBranchError(
            f"row {row}: image_grid_thw changed under the perturbation ({raw_grid.tolist()} -> "
            f"{None if noisy_grid is None else noisy_grid.tolist()}); the perturbation must keep the image size"
        )
    if noisy_pixels.shape != raw_pixels.shape:
        raise NoisyBranchError(
            f"row {row}: pixel_values shape changed ({tuple(raw_pixels.shape)} -> {tuple(noisy_pixels.shape)})"
        )
    noisy_pixels = noisy_pixels.to(raw_pixels.dtype)
    if torch.equal(noisy_pixels, raw_pixels):
        raise NoisyBranchError(
            f"row {row}: the perturbed pixel_values equal the raw ones; u_per would be 0 (check vogue.perturbation)"
        )
    return {**raw_inputs, "pixel_values": noisy_pixels}
