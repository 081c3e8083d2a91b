"""The noisy branch's inputs (METHOD.md §4–§5): branch draws and perturbed ``multi_modal_inputs``.

Rollouts come from the raw images; a row drawn into the noisy branch is teacher-forced once more under
a fresh perturbation T(image) of its own. The helpers here are pure (no verl, no Ray): deterministic
seeds, the draws for one training step, and the processor re-run that turns perturbed images into
``pixel_values`` while checking that nothing but the pixels changed.

Rows are named by values that survive a rerun and a resume: a step's rows in GENERATION order
(verl repeats each prompt n times, interleaved, so row g is response g mod n of prompt slot g // n,
before ``_balance_batch`` reorders them by length), and each prompt's identity —
``data_source`` + ``extra_info.index``, or a hash of its text and image bytes where that pair is
missing or shared by two prompts of the step.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from recipe.vogue.core.perturb import PerturbationSpec, perturb_pixels
from recipe.vogue.core.schedule import draw_noisy_branch, noisy_branch_probability

__all__ = [
    "NoisyBranchError",
    "stable_seed",
    "prompt_identities",
    "perturbation_seeds",
    "has_image",
    "BranchDraw",
    "draw_branches",
    "images_from_messages",
    "perturbed_pixel_inputs",
    "attach_noisy_pixels",
    "changed_images",
    "noisy_multi_modal_inputs",
]


class NoisyBranchError(RuntimeError):
    """The noisy pass would silently measure nothing (missing or unchanged pixels, changed grid)."""


def stable_seed(*parts: Hashable) -> int:
    """A 63-bit seed from ``parts`` that is the same in every process and every run (unlike ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _content_bytes(item: Any) -> bytes:
    """What identifies one content item of a chat message: its encoded bytes, pixels, or text."""
    if isinstance(item, Mapping) and item.get("type") == "image":
        image = item.get("image")
        if isinstance(item.get("bytes"), bytes):
            return item["bytes"]
        if isinstance(image, Image.Image):
            return f"{image.mode}{image.size}".encode() + image.tobytes()
        return repr(image).encode()
    return repr(item.get("text") if isinstance(item, Mapping) else item).encode()


def _content_hash(messages: Sequence[Any]) -> str:
    """blake2b of a chat prompt's text and image bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else message
        for item in content if isinstance(content, list | tuple) else [content]:
            digest.update(_content_bytes(item) + b"\x1e")
    return digest.hexdigest()


def prompt_identities(
    data_sources: Sequence[Any] | None, extra_infos: Sequence[Any] | None, raw_prompts: Sequence[Any]
) -> list[str]:
    """One identity per prompt slot of a step (inputs: one entry per slot, in generation order).

    ``data_source`` + ``extra_info.index`` where the row has an index and no other slot of the step has
    the same pair; otherwise a hash of the prompt's text and image bytes. Slots whose identities still
    coincide (the same prompt twice in a step) are told apart by their occurrence number.
    """
    slots = len(raw_prompts)

    def indexed(slot: int) -> str | None:
        extra = extra_infos[slot] if extra_infos is not None else None
        if not isinstance(extra, Mapping) or extra.get("index") is None:
            return None
        source = data_sources[slot] if data_sources is not None else ""
        return f"{source}\x1f{extra['index']}"

    keys = [indexed(slot) for slot in range(slots)]
    counts = Counter(key for key in keys if key is not None)
    keys = [key if key is not None and counts[key] == 1 else "#" + _content_hash(raw_prompts[slot])
            for slot, key in enumerate(keys)]
    seen: Counter = Counter()
    out = []
    for key in keys:
        out.append(f"{key}\x1f{seen[key]}" if seen[key] else key)
        seen[key] += 1
    return out


def perturbation_seeds(seed: int, step: int, identities: Sequence[str], generation_order: Sequence[int], n: int) -> list[int]:
    """Seed of each row's perturbation: (run seed, step, its prompt's identity, its position in the group).

    ``generation_order[row]`` is the row's index in generation order (response ``g mod n`` of prompt slot
    ``g // n``); ``identities`` is indexed by prompt slot (``prompt_identities``).
    """
    return [stable_seed("perturb", seed, step, identities[g // n], g % n) for g in map(int, generation_order)]


def has_image(multi_modal_inputs: Sequence[Any]) -> torch.Tensor:
    """[B] bool: rows whose ``multi_modal_inputs`` carry ``pixel_values`` (text-only prompts have none)."""
    return torch.tensor(
        [isinstance(inputs, Mapping) and inputs.get("pixel_values") is not None for inputs in multi_modal_inputs],
        dtype=torch.bool,
    )


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
    shards: int | None = None,
    eligible: torch.Tensor | None = None,
) -> BranchDraw:
    """Draw z ~ Bernoulli(p_noi(step)) (per sample / group / worker block / step) and the monitored raw rows.

    Rows are in generation order (``group_index[g]`` = uid of row g). ``step`` is the schedule's
    progress (``schedule.step_base`` decides whether the first training step is 0 or 1). The generator
    is seeded from (seed, step) only, so a resumed run redraws exactly what the original run drew.
    A raw row is monitored with probability ``monitor_fraction``: it gets the noisy forward so u_per
    stays visible late in training, but its advantage is shaped as a raw-branch sample. Rows that are
    not ``eligible`` (no image) are never noisy nor monitored; the others' draws do not depend on them.
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
    is_noisy = draw_noisy_branch(len(group_index), group_index, probability, granularity, generator, shards)
    is_monitor = (torch.rand(len(group_index), generator=generator) < monitor_fraction) & ~is_noisy
    if eligible is not None:
        is_noisy, is_monitor = is_noisy & eligible, is_monitor & eligible
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


def perturbed_pixel_inputs(
    images: Sequence[Image.Image],
    image_processor: Callable[..., Mapping[str, Any]],
    spec: PerturbationSpec,
    seed: int,
    processor_kwargs: Mapping[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """``{"pixel_values", "image_grid_thw"}`` of T(images): image k perturbed with seed (seed, k) (only image
    0 with ``spec.images == "first"``), processed from uint8 tensors (the processor's output for a tensor
    equals its output for the same PIL image, without the PIL round trip), pixels cast to ``dtype``."""
    pixels = []
    for k, image in enumerate(images):
        tensor = TF.pil_to_tensor(image if image.mode == "RGB" else image.convert("RGB"))
        pixels.append(perturb_pixels(tensor, spec, stable_seed("image", seed, k)) if k == 0 or spec.images == "all"
                      else tensor)
    processed = _process(image_processor, pixels, dict(processor_kwargs or {}))
    if processed.get("pixel_values") is None:
        raise NoisyBranchError("the image processor returned no pixel_values for the perturbed images")
    values = processed["pixel_values"]
    return {"pixel_values": values if dtype is None else values.to(dtype), "image_grid_thw": processed.get("image_grid_thw")}


def _keeps_size(image_processor: Any, height: int, width: int) -> bool:
    """Whether a Qwen-VL image processor would leave an image of this size as it is (qwen_vl_utils has
    already resized it to a multiple of the patch factor within the same kind of pixel limits)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    size = image_processor.size
    factor = image_processor.patch_size * image_processor.merge_size
    return smart_resize(height, width, factor, size.shortest_edge, size.longest_edge) == (height, width)


def _patches(image: torch.Tensor, patch: int, merge: int, temporal: int) -> torch.Tensor:
    """[C, H, W] → Qwen-VL's flattened patches [H/p · W/p, C·t·p·p]: patches grouped by merge window, each
    one repeated over the t frames of a still image (the layout of the processor's ``pixel_values``)."""
    channels, height, width = image.shape
    grid_h, grid_w = height // patch, width // patch
    windows = image.reshape(channels, grid_h // merge, merge, patch, grid_w // merge, merge, patch)
    windows = windows.permute(1, 4, 2, 5, 0, 3, 6)  # [h/m, w/m, m, m, C, p, p]
    frames = windows.unsqueeze(5).expand(*windows.shape[:5], temporal, patch, patch)
    return frames.reshape(grid_h * grid_w, channels * temporal * patch * patch)


def _process(image_processor: Any, pixels: list[torch.Tensor], kwargs: dict) -> Mapping[str, Any]:
    """The processor's output for uint8 images. For a Qwen-VL processor that would not resize them, rescale,
    normalise and cut patches here with the processor's own fused arithmetic, (x − m/r)/(s/r) in float32,
    in one pass (about 2× faster; bit-identical to its output, tested); otherwise call the processor."""
    attributes = ("patch_size", "merge_size", "temporal_patch_size", "rescale_factor", "image_mean", "image_std")
    fast = (not kwargs and all(hasattr(image_processor, name) for name in attributes)
            and getattr(image_processor, "do_rescale", False) and getattr(image_processor, "do_normalize", False)
            and getattr(getattr(image_processor, "size", None), "longest_edge", None) is not None
            and all(_keeps_size(image_processor, *p.shape[-2:]) for p in pixels))
    if not fast:
        return image_processor(images=pixels, return_tensors="pt", **kwargs)
    inverse = 1.0 / image_processor.rescale_factor
    mean = (torch.tensor(image_processor.image_mean) * inverse).view(-1, 1, 1)
    std = (torch.tensor(image_processor.image_std) * inverse).view(-1, 1, 1)
    patch, merge = image_processor.patch_size, image_processor.merge_size
    values = [_patches(p.float().sub_(mean).div_(std), patch, merge, image_processor.temporal_patch_size)
              for p in pixels]
    grids = [[1, p.shape[-2] // patch, p.shape[-1] // patch] for p in pixels]
    return {"pixel_values": torch.cat(values) if len(values) > 1 else values[0],
            "image_grid_thw": torch.tensor(grids, dtype=torch.long)}


def attach_noisy_pixels(raw_inputs: Mapping[str, Any], noisy: Mapping[str, torch.Tensor], row: int) -> dict[str, Any]:
    """``raw_inputs`` with the perturbed ``pixel_values`` of ``noisy`` (``perturbed_pixel_inputs``).

    Raises ``NoisyBranchError`` naming ``row`` when the raw inputs have no pixel_values, when the perturbed
    images give a different ``image_grid_thw`` or pixel shape (the teacher-forced sequence would no longer
    match the image tokens), or when the new pixel_values equal the raw ones (u_per would be a silent 0 —
    the peer bug this guards against).
    """
    raw_pixels = raw_inputs.get("pixel_values")
    if raw_pixels is None:
        raise NoisyBranchError(f"row {row}: multi_modal_inputs has no pixel_values; the noisy branch needs images")
    noisy_pixels = noisy["pixel_values"]
    raw_grid, noisy_grid = raw_inputs.get("image_grid_thw"), noisy.get("image_grid_thw")
    if raw_grid is not None and (noisy_grid is None or not torch.equal(torch.as_tensor(raw_grid), noisy_grid)):
        raise NoisyBranchError(
            f"row {row}: image_grid_thw changed under the perturbation ({raw_grid.tolist()} -> "
            f"{None if noisy_grid is None else noisy_grid.tolist()}); the perturbation must keep the image size"
        )
    if noisy_pixels.shape != raw_pixels.shape:
        raise NoisyBranchError(
            f"row {row}: pixel_values shape changed ({tuple(raw_pixels.shape)} -> {tuple(noisy_pixels.shape)})"
        )
    if torch.equal(noisy_pixels, raw_pixels.to(noisy_pixels.dtype)):  # as the model sees them (compute dtype)
        raise NoisyBranchError(
            f"row {row}: the perturbed pixel_values equal the raw ones; u_per would be 0 (check vogue.perturbation)"
        )
    return {**raw_inputs, "pixel_values": noisy_pixels}


def changed_images(pixels: torch.Tensor, other: torch.Tensor, grid_thw: torch.Tensor) -> list[bool]:
    """Per image of a row, whether its patches differ between two ``pixel_values`` of the same images: image k
    owns the next t·h·w rows (``grid_thw[k]``) of Qwen-VL's flattened patches. Compared in the less precise of
    the two dtypes (the processor's fp32 pixels against bf16 paired ones: as the model sees both)."""
    sizes = torch.as_tensor(grid_thw).prod(-1).tolist()
    if sum(sizes) != len(pixels) or pixels.shape != other.shape:
        raise NoisyBranchError(f"pixel_values of shapes {tuple(pixels.shape)} and {tuple(other.shape)} do not hold "
                               f"the {sum(sizes)} patches of image_grid_thw {torch.as_tensor(grid_thw).tolist()}")
    dtype = min(pixels.dtype, other.dtype, key=lambda d: torch.finfo(d).bits)
    return [not torch.equal(a.to(dtype), b.to(dtype))
            for a, b in zip(pixels.split(sizes), other.split(sizes), strict=True)]


def noisy_multi_modal_inputs(
    raw_inputs: Mapping[str, Any],
    images: Sequence[Image.Image],
    image_processor: Callable[..., Mapping[str, Any]],
    spec: PerturbationSpec,
    seed: int,
    row: int,
    processor_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``attach_noisy_pixels(raw_inputs, perturbed_pixel_inputs(images, …), row)``, in one call."""
    if raw_inputs.get("pixel_values") is None:
        raise NoisyBranchError(f"row {row}: multi_modal_inputs has no pixel_values; the noisy branch needs images")
    if not images:
        raise NoisyBranchError(f"row {row}: the prompt has pixel_values but no image in raw_prompt")
    noisy = perturbed_pixel_inputs(images, image_processor, spec, seed, processor_kwargs, raw_inputs["pixel_values"].dtype)
    return attach_noisy_pixels(raw_inputs, noisy, row)
