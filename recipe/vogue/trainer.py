"""VogueTrainer: verl's legacy ``RayPPOTrainer`` with its hooks overridden (fit() is verl's own).

- ``_compute_old_log_prob``: draws the branches for the step, runs verl's raw log-prob pass, and ONE
  noisy pass on the rows drawn into the noisy branch (plus monitored raw rows) with freshly perturbed
  images; stores the per-row branch entropy, u_per and z_i in the batch (``vogue_*`` columns). The raw
  branch's old_log_probs/entropys are reused, never recomputed.
- ``_update_actor``: receives the batch with GRPO advantages, adds the VOGUE bonuses
  (``shaping.shape_advantages``) and hands the shaped batch to verl's actor update; logs ``vogue/*``.

A third, ``_balance_batch``, only records each row's position in generation order (``vogue_generation_order``)
before verl reorders the rows by length: draws and perturbation seeds are defined on that order and on
each prompt's identity (``noisy_branch``), so they do not depend on response lengths, and a rerun or a
resumed run perturbs the same response of the same step identically.

With ``vogue.enable=false`` every hook is verl's, so the baseline is plain GRPO on the same code.
``rollout_from=raw`` only (METHOD.md §5); the schedule's step is ``global_steps − 1 + schedule.step_base``
(verl restores global_steps from the checkpoint on resume), and the draws are seeded from (vogue.seed, step).
Prompts without an image are raw-branch rows (z = 0, u_per = 0), counted in ``vogue/no_image_frac``.
Validation metrics come from ``validation.UnbiasedValidationMetrics`` (unbiased pass@k, for GRPO too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from verl import DataProto
from verl.protocol import pad_dataproto_to_divisor
from verl.trainer.ppo.ray_trainer import RayPPOTrainer
from verl.utils import tensordict_utils as tu
from verl.utils.torch_functional import masked_mean
from verl.workers.utils.padding import left_right_2_no_padding, no_padding_2_padding

import recipe.vogue.registration  # noqa: F401  (vogue_grpo, even where the entry point is not installed)
from recipe.vogue.noisy_branch import (
    BranchDraw,
    NoisyBranchError,
    draw_branches,
    has_image,
    images_from_messages,
    noisy_multi_modal_inputs,
    perturbation_seeds,
    prompt_identities,
)
from recipe.vogue.shaping import shape_advantages
from recipe.vogue.uncertainty import FULL_KL_ESTIMATORS, sampled_token_entropy, symmetric_kl_from_sampled
from recipe.vogue.validation import UnbiasedValidationMetrics
from recipe.vogue.vogue_config import check_multimodal_processor, validate_run_config
from recipe.vogue.worker import CHUNK_SIZE_KEY, ESTIMATOR_KEY, NOISY_INPUTS_KEY, PAIRED_OUTPUT_KEYS

__all__ = ["VOGUE_COLUMNS", "GENERATION_ORDER_KEY", "VogueTrainer"]

logger = logging.getLogger(__name__)

# Per-row tensors _compute_old_log_prob adds to the batch for _update_actor (popped there).
VOGUE_COLUMNS = ("vogue_entropy", "vogue_u_per", "vogue_is_noisy")
# [B] int64: each row's index in generation order, recorded before verl's _balance_batch reorders rows.
GENERATION_ORDER_KEY = "vogue_generation_order"


class VogueTrainer(UnbiasedValidationMetrics, RayPPOTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vogue = validate_run_config(self.config)
        if self.vogue.enable:
            check_multimodal_processor(self.processor, self.config.actor_rollout_ref.model.path)
        self._vogue_metrics: dict[str, float] = {}
        self._warned_no_image = False

    # ---- row identities, branch draws and the noisy pass ---------------------------------------------

    def _balance_batch(self, batch: DataProto, metrics, logging_prefix="global_seqlen", keep_minibatch=False):
        if self.vogue.enable:
            batch.batch[GENERATION_ORDER_KEY] = torch.arange(len(batch))
        return super()._balance_batch(batch, metrics, logging_prefix=logging_prefix, keep_minibatch=keep_minibatch)

    @staticmethod
    def _generation_order(batch: DataProto) -> np.ndarray:
        """[B] index of each row in generation order (identity when verl did not balance the batch)."""
        if GENERATION_ORDER_KEY in batch.batch.keys():
            return batch.batch[GENERATION_ORDER_KEY].cpu().numpy()
        return np.arange(len(batch))

    def _draw_branches(self, batch: DataProto) -> BranchDraw:
        """The step's draws over its rows in generation order, returned in the batch's current order."""
        schedule = self.vogue.schedule
        order = self._generation_order(batch)
        by_generation = np.argsort(order)
        columns = batch.non_tensor_batch
        eligible = has_image(columns["multi_modal_inputs"]) if "multi_modal_inputs" in columns else None
        draw = draw_branches(
            group_index=list(columns["uid"][by_generation]),
            step=self.global_steps - 1 + schedule.step_base,
            total_steps=schedule.total_steps or self.total_training_steps,
            seed=self.vogue.seed,
            schedule={"type": schedule.type, "start": schedule.start, "end": schedule.end, "fixed": schedule.fixed},
            granularity=self.vogue.granularity,
            monitor_fraction=self.vogue.monitor_fraction,
            shards=self.vogue.draw_shards or self._get_dp_size(self.actor_rollout_wg, "actor"),
            eligible=None if eligible is None else eligible[by_generation],
        )
        index = torch.as_tensor(order)
        return BranchDraw(draw.is_noisy[index], draw.is_monitor[index], draw.probability)

    def _perturbation_seeds(self, batch: DataProto, rows: list[int]) -> list[int]:
        """Per-row seeds from (vogue.seed, step, prompt identity, position in the group) — see noisy_branch."""
        n = int(self.config.actor_rollout_ref.rollout.n)
        order = self._generation_order(batch)
        by_generation = np.argsort(order)
        columns = batch.non_tensor_batch
        groups = columns["uid"][by_generation].reshape(-1, n) if len(batch) % n == 0 else None
        if groups is None or (groups != groups[:, :1]).any():
            raise NoisyBranchError(
                f"the step's {len(batch)} rows are not {n} responses per prompt in generation order; "
                "cannot name each response for its perturbation seed"
            )
        slots = by_generation[::n]
        identities = prompt_identities(
            columns["data_source"][slots] if "data_source" in columns else None,
            columns["extra_info"][slots] if "extra_info" in columns else None,
            columns["raw_prompt"][slots],
        )
        return perturbation_seeds(self.vogue.seed, self.global_steps, identities, order[rows], n)

    def _noisy_inputs(self, batch: DataProto, rows: list[int]) -> np.ndarray:
        """Perturbed multi_modal_inputs for ``rows`` (seeds from ``_perturbation_seeds``)."""
        columns = batch.non_tensor_batch
        for key in ("raw_prompt", "multi_modal_inputs"):
            if key not in columns:
                raise NoisyBranchError(f"the batch has no {key!r} column; the noisy branch needs the prompt images")
        image_processor = self.processor.image_processor
        patch_size = getattr(image_processor, "patch_size", 14)
        processor_kwargs = dict(self.config.data.get("mm_processor_kwargs") or {})
        seeds = dict(zip(rows, self._perturbation_seeds(batch, rows), strict=True))

        def build(row: int) -> dict:
            seed = seeds[row]
            images = images_from_messages(columns["raw_prompt"][row], patch_size)
            return noisy_multi_modal_inputs(
                columns["multi_modal_inputs"][row], images, image_processor, self.vogue.perturbation, seed, row,
                processor_kwargs,
            )

        with ThreadPoolExecutor(max_workers=self.vogue.perturb_workers) as pool:
            built = list(pool.map(build, rows))
        if self.vogue.audit_dir:  # which perturbation each response got, to compare runs
            self._audit_perturbations = {
                seeds[row]: hashlib.blake2b(inputs["pixel_values"].numpy().tobytes(), digest_size=16).hexdigest()
                for row, inputs in zip(rows, built, strict=True)
            }
        out = np.empty(len(rows), dtype=object)
        out[:] = built
        return out

    def _padded_subset(self, batch: DataProto, rows: list[int], extra: dict[str, np.ndarray]) -> DataProto:
        """Rows of ``batch`` (plus ``extra`` columns), padded by repeating rows to a size verl can split:
        a multiple of the actor's DP size × the micro-batch size (without dynamic batching). The
        micro-batch is the configured log-prob one, shrunk to what the subset needs, so that a few
        probed rows late in the schedule are not padded up to a whole micro-batch per rank."""
        subset = batch.select_idxs(np.asarray(rows, dtype=np.int64))
        subset.non_tensor_batch.update(extra)
        seqlens = [
            length for inputs in subset.non_tensor_batch.get("multi_modal_inputs", [])
            if inputs is not None and "images_seqlens" in inputs for length in inputs["images_seqlens"].tolist()
        ]
        subset.meta_info = {
            **subset.meta_info,
            "global_token_num": subset.batch["attention_mask"].sum(-1).tolist(),
            "images_seqlens": seqlens,
        }
        rollout = self.config.actor_rollout_ref.rollout
        dp_size = self._get_dp_size(self.actor_rollout_wg, "actor")
        per_rank = 1
        if not rollout.get("log_prob_use_dynamic_bsz"):
            configured = rollout.get("log_prob_micro_batch_size_per_gpu") or 1
            per_rank = min(configured, math.ceil(len(rows) / dp_size))
            subset.meta_info["micro_batch_size_per_gpu"] = per_rank  # read by verl's infer_batch
        padded, _ = pad_dataproto_to_divisor(subset, dp_size * per_rank)  # padding rows share meta_info
        return padded

    def _paired_log_prob(self, subset: DataProto) -> tuple[dict[str, torch.Tensor], float]:
        """One call of the worker's raw+noisy pass (full-vocabulary estimators): [rows, response] tensors and mfu."""
        batch_td = left_right_2_no_padding(subset.to_tensordict())
        budget = {}
        if self.vogue.paired_max_token_len_per_gpu and self.config.actor_rollout_ref.rollout.get("log_prob_use_dynamic_bsz"):
            budget["max_token_len_per_gpu"] = self.vogue.paired_max_token_len_per_gpu  # read by verl's infer_batch
        tu.assign_non_tensor(
            batch_td, calculate_entropy=True, compute_loss=False, **budget,
            **{CHUNK_SIZE_KEY: self.vogue.kl_chunk_size, ESTIMATOR_KEY: self.vogue.kl_estimator},
        )
        output = self.actor_rollout_wg.compute_log_prob_with_noisy_branch(batch_td)
        tensors = {key: no_padding_2_padding(tu.get(output, key), batch_td).float() for key in PAIRED_OUTPUT_KEYS}
        return tensors, tu.get(output, "metrics")["mfu"]

    def _compute_old_log_prob(self, batch: DataProto):
        if not self.vogue.enable:
            return super()._compute_old_log_prob(batch)
        draw = self._draw_branches(batch)
        without_image = ~has_image(batch.non_tensor_batch.get("multi_modal_inputs", [None] * len(batch)))
        if without_image.any() and not self._warned_no_image:
            logger.warning(
                "VOGUE: %d of %d rows of step %d have no image; they train as raw-branch rows (z = 0, u_per = 0), "
                "counted in vogue/no_image_frac (warned once per run)",
                int(without_image.sum()), len(batch), self.global_steps,
            )
            self._warned_no_image = True
        probed = draw.is_probed.nonzero().flatten().tolist()
        noisy_inputs = self._noisy_inputs(batch, probed) if probed else None  # fails before any forward
        if self.vogue.kl_estimator in FULL_KL_ESTIMATORS:
            old_log_prob, mfu, noisy = self._full_kl_passes(batch, probed, noisy_inputs)
        else:
            old_log_prob, mfu = super()._compute_old_log_prob(batch)
            raw_probed = old_log_prob.batch["old_log_probs"][probed]
            noisy = self._sampled_noisy_pass(batch, probed, noisy_inputs, raw_probed) if probed else None
        raw_log_probs = old_log_prob.batch["old_log_probs"]
        raw_entropy = old_log_prob.batch["entropys"]
        noisy_log_probs = torch.zeros_like(raw_log_probs)
        noisy_entropy = torch.zeros_like(raw_entropy)
        u_per = torch.zeros_like(raw_log_probs)
        if probed:
            noisy_log_probs[probed], noisy_entropy[probed], u_per[probed] = noisy
        if self.vogue.entropy == "sampled_token":  # the released code's u_out surrogate, per branch
            branch_entropy = (sampled_token_entropy(raw_log_probs), sampled_token_entropy(noisy_log_probs))
        else:
            branch_entropy = (raw_entropy, noisy_entropy)
        is_noisy = draw.is_noisy.to(raw_log_probs.device)
        old_log_prob.batch["vogue_entropy"] = torch.where(is_noisy[:, None], branch_entropy[1], branch_entropy[0])
        old_log_prob.batch["vogue_u_per"] = u_per
        old_log_prob.batch["vogue_is_noisy"] = is_noisy
        self._vogue_metrics = self._branch_metrics(
            batch.batch["response_mask"], draw, raw_entropy, noisy_entropy, u_per
        )
        self._vogue_metrics["vogue/no_image_frac"] = float(without_image.float().mean())
        return old_log_prob, mfu

    def _sampled_noisy_pass(self, batch: DataProto, probed: list[int], noisy_inputs: np.ndarray, raw_log_probs):
        """The ONE extra compute_log_prob call: probed rows with perturbed pixel_values."""
        subset = self._padded_subset(batch, probed, {"multi_modal_inputs": noisy_inputs})
        noisy, _ = super()._compute_old_log_prob(subset)
        noisy_log_probs = noisy.batch["old_log_probs"][: len(probed)]
        u_per = symmetric_kl_from_sampled(raw_log_probs, noisy_log_probs, self.vogue.kl_estimator)
        return noisy_log_probs, noisy.batch["entropys"][: len(probed)], u_per

    def _full_kl_passes(self, batch: DataProto, probed: list[int], noisy_inputs: np.ndarray | None):
        """Probed rows through the worker's paired pass, the others through verl's compute_log_prob."""
        probed_set = set(probed)
        raw_rows = [row for row in range(len(batch)) if row not in probed_set]
        parts, noisy = [], None
        if raw_rows:
            raw_part, mfu = super()._compute_old_log_prob(self._padded_subset(batch, raw_rows, {}))
            parts.append((raw_rows, raw_part.batch["old_log_probs"], raw_part.batch["entropys"]))
        if probed:
            subset = self._padded_subset(batch, probed, {NOISY_INPUTS_KEY: noisy_inputs})
            paired, paired_mfu = self._paired_log_prob(subset)
            parts.append((probed, paired["log_probs"], paired["entropy"]))
            noisy = tuple(paired[key][: len(probed)] for key in ("noisy_log_probs", "noisy_entropy", "u_per"))
            mfu = mfu if raw_rows else paired_mfu
        template = parts[0][1]
        log_probs = template.new_zeros((len(batch), template.shape[1]))
        entropy = torch.zeros_like(log_probs)
        for rows, part_log_probs, part_entropy in parts:
            log_probs[rows] = part_log_probs[: len(rows)]
            entropy[rows] = part_entropy[: len(rows)]
        return DataProto.from_dict(tensors={"old_log_probs": log_probs, "entropys": entropy}), mfu, noisy

    def _branch_metrics(self, response_mask, draw: BranchDraw, raw_entropy, noisy_entropy, u_per) -> dict[str, float]:
        mask = response_mask.bool()
        probed = draw.is_probed.to(mask.device)
        probed_tokens = mask & probed[:, None]
        token_values = u_per[probed_tokens]
        per_sequence = masked_mean(u_per, mask, axis=-1)[probed & mask.any(-1)]
        return {
            "vogue/p_noi": draw.probability,
            "vogue/probed_frac": float(probed.float().mean()),
            "vogue/u_per_token_mean": float(masked_mean(u_per, probed_tokens)),
            "vogue/u_per_token_max": float(token_values.max()) if token_values.numel() else 0.0,
            "vogue/u_per_seq_mean": float(per_sequence.mean()) if per_sequence.numel() else 0.0,
            "vogue/u_per_seq_max": float(per_sequence.max()) if per_sequence.numel() else 0.0,
            "vogue/entropy_raw_mean": float(masked_mean(raw_entropy, mask)),
            "vogue/entropy_noisy_mean": float(masked_mean(noisy_entropy, probed_tokens)),
        }

    # ---- shaping after GRPO -------------------------------------------------------------------------

    def _update_actor(self, batch: DataProto) -> DataProto:
        if not self.vogue.enable:
            return super()._update_actor(batch)
        missing = [key for key in VOGUE_COLUMNS if key not in batch.batch.keys()]
        if missing:
            raise RuntimeError(f"VOGUE columns {missing} are missing: _compute_old_log_prob did not run its noisy pass")
        entropy, u_per, is_noisy = (batch.batch.pop(key) for key in VOGUE_COLUMNS)
        if GENERATION_ORDER_KEY in batch.batch.keys():
            batch.batch.pop(GENERATION_ORDER_KEY)
        vogue = self.vogue
        shaped, shaping_metrics = shape_advantages(
            batch.batch["advantages"], batch.batch["response_mask"], entropy, u_per, is_noisy,
            alpha_out=vogue.alpha_out, beta_out=vogue.beta_out, alpha_per=vogue.alpha_per, beta_per=vogue.beta_per,
            cap_base=vogue.cap_base,
        )
        if vogue.audit_dir:
            self._save_audit(batch, entropy, u_per, is_noisy, shaped)
        batch.batch["advantages"] = shaped
        output = super()._update_actor(batch)
        output.meta_info["metrics"].update(self._vogue_metrics)
        output.meta_info["metrics"].update({f"vogue/{key}": value for key, value in shaping_metrics.items()})
        return output

    def _save_audit(self, batch: DataProto, entropy, u_per, is_noisy, shaped) -> None:
        """Everything needed to recompute GRPO + shaping for this step (``vogue.audit_dir``), a digest of each
        probed response's perturbed pixel_values keyed by its perturbation seed, and per row the image grid the
        actor used and the number of image tokens in the rollout's prompt."""
        os.makedirs(self.vogue.audit_dir, exist_ok=True)
        record = {key: batch.batch[key].cpu() for key in ("token_level_rewards", "response_mask", "advantages")}
        inputs = batch.non_tensor_batch["multi_modal_inputs"]
        image_token = self.tokenizer.convert_tokens_to_ids(getattr(self.processor, "image_token", "<|image_pad|>"))
        record.update(
            uid=list(batch.non_tensor_batch["uid"]), entropy=entropy.cpu(), u_per=u_per.cpu(),
            is_noisy=is_noisy.cpu(), shaped=shaped.cpu(), vogue=dataclasses.asdict(self.vogue),
            has_image=has_image(inputs), image_grid_thw=[row.get("image_grid_thw") for row in inputs],
            prompt_image_tokens=(batch.batch["prompts"] == image_token).sum(-1).cpu(),
            perturbations=getattr(self, "_audit_perturbations", {}),
        )
        self._audit_perturbations = {}
        torch.save(record, os.path.join(self.vogue.audit_dir, f"step_{self.global_steps}.pt"))
