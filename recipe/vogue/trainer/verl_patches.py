"""Fixes for two verl 0.9.1 bugs, installed by VOGUE's worker processes and its trainer.

1. (workers) Mixed text/image batches.

``verl.models.transformers.qwen2_vl._get_input_embeds``, for a micro-batch without any image (every
prompt text-only — legal in verl's mixed batches, and certain to happen once text-only rows are raw-branch
rows), runs the vision tower on a dummy 4×4 patch grid so that FSDP sees its parameters in the graph,
then calls ``.mean()`` on the tower's output. Under transformers 5 that output is a
``BaseModelOutputWithPooling``, so the step dies with ``AttributeError``. Here the text-only case is
computed the same way with the output unpacked by verl's own ``unpack_visual_output``; every call with
pixels goes to verl's function unchanged. (``qwen3_vl.py`` already unpacks it.)

2. (driver) Batches whose rows all have the same length. ``left_right_2_no_padding`` nests the [4, L_i]
M-RoPE position ids with ``torch.nested.as_nested_tensor``, which makes the sequence dimension ragged only
when the lengths differ; when every row of the batch has the same length (same prompt length, every
response cut at the maximum) it makes the 4 M-RoPE rows the ragged dimension instead. Chunks and
mini-batches built from such a tensor later mix the two layouts, and the actor update dies with
"split_with_sizes expects split_sizes to sum exactly to <L> … got [4, 4, 4, 4]" (seen in the DAPO end-to-end
run). Here the position ids are re-nested on the sequence dimension (verl's own
``nested_tensor_from_tensor_list``) whenever verl chose another one.
"""

from __future__ import annotations

import torch

__all__ = ["patch_qwen2_vl_text_only_batches", "patch_uniform_length_position_ids", "sequence_ragged_position_ids"]
SEQUENCE_DIM = 2  # of the nested [batch, 4, sequence] M-RoPE position ids


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


def sequence_ragged_position_ids(batch):
    """``batch`` with nested 3-D position ids ragged on the sequence dimension (unchanged otherwise)."""
    from verl.utils.tensordict_utils import nested_tensor_from_tensor_list

    position_ids = batch.get("position_ids", None)
    if position_ids is not None and position_ids.is_nested and position_ids.dim() == 3 \
            and position_ids._ragged_idx != SEQUENCE_DIM:
        batch["position_ids"] = nested_tensor_from_tensor_list(list(position_ids.unbind()), ragged_idx=SEQUENCE_DIM)
    return batch


def _sequence_ragged(original):
    def left_right_2_no_padding(batch, *args, **kwargs):
        return sequence_ragged_position_ids(original(batch, *args, **kwargs))

    left_right_2_no_padding.vogue_patched = True
    return left_right_2_no_padding


def patch_uniform_length_position_ids() -> None:
    """Install fix 2 where the trainer calls verl's function (idempotent)."""
    from verl.trainer.ppo import ray_trainer

    if not getattr(ray_trainer.left_right_2_no_padding, "vogue_patched", False):
        ray_trainer.left_right_2_no_padding = _sequence_ragged(ray_trainer.left_right_2_no_padding)
