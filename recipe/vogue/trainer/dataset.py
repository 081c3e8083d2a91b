"""verl's ``RLHFDataset`` with per-image pixel limits (``data.custom_cls.path=pkg://recipe.vogue.trainer.dataset``,
``data.custom_cls.name=VogueRLHFDataset``).

qwen_vl_utils resizes every image of a chat prompt to a multiple of the patch factor within the
``min_pixels``/``max_pixels`` of that image's content item (defaults: 4 to 16,384 patch-factor² — up
to 12.8 MP, i.e. 16,384 image tokens for Qwen2.5-VL). verl builds the items from the row in
``_build_messages`` and every consumer reads them from there: the overlong-prompt filter, the agent
loop (the rollout's prompt ids and images, the actor's ``multi_modal_inputs``) and VOGUE's noisy
branch (``noisy_branch.images_from_messages`` on ``raw_prompt``). Adding the limits to the items here
therefore reaches all of them at once, and the images are already resized when any processor sees
them, so vLLM's processor and the actor's agree on the number of image tokens.

Settings: ``data.image_min_pixels`` and ``data.image_max_pixels`` (null = qwen_vl_utils' defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verl.utils.dataset.rl_dataset import RLHFDataset

__all__ = ["VogueRLHFDataset", "pixel_limits", "with_pixel_limits"]


def pixel_limits(data_config: Mapping[str, Any]) -> dict[str, int]:
    """{"min_pixels": …, "max_pixels": …} from ``data.image_min_pixels``/``data.image_max_pixels`` (set ones only)."""
    limits = {}
    for key, name in (("image_min_pixels", "min_pixels"), ("image_max_pixels", "max_pixels")):
        value = data_config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"data.{key} must be a positive integer number of pixels or null, got {value!r}")
        limits[name] = value
    if limits.get("min_pixels", 0) > limits.get("max_pixels", float("inf")):
        raise ValueError(f"data.image_min_pixels ({limits['min_pixels']}) exceeds data.image_max_pixels "
                         f"({limits['max_pixels']})")
    return limits


def with_pixel_limits(messages: list, limits: Mapping[str, int]) -> list:
    """``messages`` with ``limits`` set on every image content item (in place; returned for chaining)."""
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        for item in content if isinstance(content, list) else []:
            if isinstance(item, dict) and item.get("type") == "image":
                item.update(limits)
    return messages


class VogueRLHFDataset(RLHFDataset):
    """``RLHFDataset`` whose prompts carry ``data.image_min_pixels``/``data.image_max_pixels`` per image."""

    def _build_messages(self, example: dict, key: str):
        return with_pixel_limits(super()._build_messages(example, key), pixel_limits(self.config))
