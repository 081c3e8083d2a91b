"""A fix for a verl 0.9.1 bug that mixed text/image batches hit, applied in VOGUE's worker processes.

``verl.models.transformers.qwen2_vl._get_input_embeds``, for a micro-batch without any image (every
prompt text-only — legal in verl's mixed batches, and certain to happen once text-only rows are raw-branch
rows), runs the vision tower on a dummy 4×4 patch grid so that FSDP sees its parameters in the graph,
then calls ``.mean()`` on the tower's output. Under transformers 5 that output is a
``BaseModelOutputWithPooling``, so the step dies with ``AttributeError``. Here the text-only case is
computed the same way with the output unpacked by verl's own ``unpack_visual_output``; every call with
pixels goes to verl's function unchanged. (``qwen3_vl.py`` already unpacks it.)
"""

from __future__ import annotations

import torch

__all__ = ["patch_qwen2_vl_text_only_batches"]


def _text_only_safe(original):
    from verl.utils.transformers_compat import unpack_visual_output

    def get_input_embeds(model, input_ids, attention_mask=None, pixel_values=None, pixel_values_videos=None,
                         image_grid_thw=None, video_grid_thw=None):
        if pixel_values is not None or pixel_values_videos is not None:
            return original(model, input_ids, attention_mask, pixel_values, pixel_values_videos, image_grid_thw,
                            video_grid_thw)
        inputs_embeds = model.get_input_embeddings()(input_ids)
        config = model.config.vision_config
        patch_dim = config.in_channels * config.temporal_patch_size * config.patch_size**2
        dummy = torch.zeros((16, patch_dim), dtype=inputs_embeds.dtype, device=inputs_embeds.device)
        grid = torch.tensor([[1, 4, 4]], dtype=torch.long, device=inputs_embeds.device)
        image_embeds, _ = unpack_visual_output(model.visual(dummy, grid_thw=grid))
        inputs_embeds = inputs_embeds + 0.0 * image_embeds.mean()
        if attention_mask is not None:
            attention_mask = attention_mask.to(inputs_embeds.device)
        return inputs_embeds, attention_mask

    get_input_embeds.vogue_patched = True
    return get_input_embeds


def patch_qwen2_vl_text_only_batches() -> None:
    """Install the fix (idempotent)."""
    from verl.models.transformers import qwen2_vl

    if not getattr(qwen2_vl._get_input_embeds, "vogue_patched", False):
        qwen2_vl._get_input_embeds = _text_only_safe(qwen2_vl._get_input_embeds)
