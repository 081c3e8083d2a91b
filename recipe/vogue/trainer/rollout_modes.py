"""How each rollout mode generates a training step, one function per mode (METHOD.md §5, §7).

Every function receives verl's rollout manager, the step's rows in generation order (verl's n-fold
interleaved repeat, response j of prompt p at row p·n + j) and, where images change, the images to
generate from per row (built before generation by ``noisy_inputs``); it returns exactly one row per
input row, in the same order and with the same uids, so verl's fit() can union it with its repeated
batch (it asserts that shared columns are equal).

- ``raw``: the rows as they are (the released code's mechanism; the noisy pass is teacher-forced later).
- ``noisy_branch``: rows drawn into the noisy branch are generated from T(image); their old log-probs and
  update use the perturbed inputs the agent loop computes from them.
- ``paper_two_groups``: Algorithm 1 — per prompt, G rollouts from x and G from x' (2G generations), GRPO
  advantages within each branch's own group, then o_i or o'_i kept by z_i: G rows per prompt reach
  the update, each with its branch's advantage (``BRANCH_ADVANTAGES_KEY``, used instead of the
  advantages verl computes over the kept rows).
- ``noisy_rollout``: NoisyRollout (arXiv 2504.13055) — of the 2n rollouts of a prompt (``rollout.n`` =
  2n), the last n are generated from diffusion-noised images; all 2n form ONE group and are updated on
  the CLEAN image (their inputs are the clean sibling's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from verl import DataProto
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

from recipe.vogue.core.shaping import rows_in_tied_groups

__all__ = ["BRANCH_ADVANTAGES_KEY", "BRANCH_TIED_KEY", "NOISY_UID_SUFFIX", "with_images", "generate_raw", "generate_noisy_branch",
           "generate_two_groups", "generate_noisy_rollout"]

# [B, response] advantages of each kept row within its own branch's group (paper_two_groups), and [B] whether
# that group's rewards were all equal (``shaping.rows_in_tied_groups``).
BRANCH_ADVANTAGES_KEY = "vogue_branch_advantages"
BRANCH_TIED_KEY = "vogue_branch_tied"
NOISY_UID_SUFFIX = "#noisy"


def with_images(messages: Sequence[Mapping[str, Any]], images: Sequence[Any]) -> list[dict]:
    """A copy of a chat prompt whose image items show ``images`` (in order), every other key kept (the
    per-image pixel limits among them). The originals are shared by the n rows of a prompt: never edited."""
    remaining = iter(images)
    copied = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [{**item, "image": next(remaining)} if isinstance(item, Mapping) and item.get("type") == "image"
                       else item for item in content]
        copied.append({**message, "content": content})
    if next(remaining, None) is not None:
        raise ValueError("more images than image items in the prompt")
    return copied


def _with_row_images(rows: DataProto, images: Mapping[int, Sequence[Any]]) -> DataProto:
    """``rows`` (a shallow copy) whose ``raw_prompt`` shows ``images[row]`` for the given rows."""
    prompts = rows.non_tensor_batch["raw_prompt"].copy()
    for row, row_images in images.items():
        prompts[row] = with_images(prompts[row], row_images)
    copy = DataProto(batch=rows.batch, non_tensor_batch={**rows.non_tensor_batch, "raw_prompt": prompts},
                     meta_info=dict(rows.meta_info))
    return copy


def generate_raw(manager: Any, rows: DataProto) -> DataProto:
    return manager.generate_sequences(rows)


def generate_noisy_branch(manager: Any, rows: DataProto, noisy_images: Mapping[int, Sequence[Any]]) -> DataProto:
    """Generate every row, the rows in ``noisy_images`` from their perturbed images."""
    return manager.generate_sequences(_with_row_images(rows, noisy_images))


def generate_two_groups(manager: Any, rows: DataProto, noisy_images: Mapping[int, Sequence[Any]],
                        is_noisy: torch.Tensor, norm_adv_by_std: bool = True) -> DataProto:
    """Algorithm 1: G raw and G noisy rollouts per prompt, advantages per branch group, o_i or o'_i by z_i.

    ``noisy_images`` holds T(image) for EVERY row (the x' group); ``is_noisy[i]`` = z_i. The noisy group's
    rows get the uid ``uid + NOISY_UID_SUFFIX`` for the advantages only; the kept rows keep the original uid.
    """
    count = len(rows)
    uids = rows.non_tensor_batch["uid"]
    noisy_rows = _with_row_images(rows, noisy_images)
    noisy_rows.non_tensor_batch["uid"] = np.array([f"{uid}{NOISY_UID_SUFFIX}" for uid in uids], dtype=object)
    output = manager.generate_sequences(DataProto.concat([rows, noisy_rows]))
    if len(output) != 2 * count:
        raise RuntimeError(f"the rollout returned {len(output)} rows for the {2 * count} of both groups")
    response_mask = output.batch.get("response_mask")
    if response_mask is None:
        response_mask = output.batch["attention_mask"][:, -output.batch["responses"].shape[1]:]
    groups = np.concatenate([uids, noisy_rows.non_tensor_batch["uid"]])
    advantages, _ = compute_grpo_outcome_advantage(  # verl's GRPO, within each branch's own group
        token_level_rewards=output.batch["rm_scores"], response_mask=response_mask, index=groups,
        norm_adv_by_std_in_grpo=norm_adv_by_std,
    )  # (the agent loop's output need not carry the uid column: the groups come from the rows generated)
    keep = torch.arange(count) + count * is_noisy.long()
    kept = output.select_idxs(keep.numpy())
    if "uid" in kept.non_tensor_batch:
        kept.non_tensor_batch["uid"] = uids.copy()
    kept.batch[BRANCH_ADVANTAGES_KEY] = advantages[keep]
    kept.batch[BRANCH_TIED_KEY] = rows_in_tied_groups(output.batch["rm_scores"].sum(-1), groups)[keep]
    return kept


def generate_noisy_rollout(manager: Any, rows: DataProto, noised_images: Mapping[int, Sequence[Any]],
                           clean_of: Mapping[int, int]) -> DataProto:
    """NoisyRollout: generate the rows in ``noised_images`` from their noised images, then give each of them
    the clean inputs and prompt of its clean sibling ``clean_of[row]`` (same prompt, same image), so that the
    group's 2n responses are all scored and updated under the clean image."""
    output = manager.generate_sequences(_with_row_images(rows, noised_images))
    inputs = output.non_tensor_batch["multi_modal_inputs"].copy()
    prompts = output.non_tensor_batch["raw_prompt"].copy()
    for row, clean in clean_of.items():
        noised, sibling = inputs[row], inputs[clean]
        if not torch.equal(torch.as_tensor(noised["image_grid_thw"]), torch.as_tensor(sibling["image_grid_thw"])):
            raise RuntimeError(f"row {row}: the noised image changed the image grid; the diffusion noise must keep the size")
        inputs[row], prompts[row] = sibling, rows.non_tensor_batch["raw_prompt"][row]
    output.non_tensor_batch["multi_modal_inputs"] = inputs
    output.non_tensor_batch["raw_prompt"] = prompts
    return output
