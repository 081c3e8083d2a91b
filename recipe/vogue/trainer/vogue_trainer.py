"""VogueTrainer: verl's legacy ``RayPPOTrainer`` with its hooks overridden (fit() is verl's own).

- ``init_workers``: wraps verl's rollout manager in ``noisy_inputs.PlannedGeneration``, so each training
  step is planned from the rows about to be generated (generation order): branch draws, perturbation
  seeds from each response's identity, and the probed rows' perturbed inputs built by parallel Ray
  tasks while generation runs (off the old-log-prob stage's critical path).
- ``_compute_old_log_prob``: ONE call of the worker's ``compute_log_prob_with_noisy_branch`` on all rows:
  one forward for raw-branch rows, raw + noisy forwards for the rows drawn into the noisy branch (plus
  monitored raw rows); stores the per-row branch entropy, u_per and z_i in the batch (``vogue_*`` columns).
- ``_update_actor``: receives the batch with GRPO advantages, adds the VOGUE bonuses
  (``shaping.shape_advantages``) and hands the shaped batch to verl's actor update; logs ``vogue/*``.
- ``_balance_batch``: with ``algorithm.filter_groups.enable`` (DAPO), first keeps only the groups that pass
  the filter and refills the step (``dynamic_sampling``); the branches are then drawn over the kept rows.

With ``vogue.enable=false`` (and no NoisyRollout or filter) every hook is verl's, so the baseline is plain
GRPO on the same code. ``vogue.rollout_from`` picks how rollouts are generated (``rollout_modes``). The
schedule's step is ``global_steps − 1 + schedule.step_base`` (verl restores global_steps from the
checkpoint on resume), and the draws are seeded from (vogue.seed, step).
Prompts without an image are raw-branch rows (z = 0, u_per = 0), counted in ``vogue/no_image_frac``.
Validation metrics come from ``validation.UnbiasedValidationMetrics`` (unbiased pass@k, for GRPO too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import uuid

import numpy as np
import torch

from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_response_mask
from verl.utils import tensordict_utils as tu
from verl.utils.torch_functional import masked_mean
from verl.workers.utils.padding import left_right_2_no_padding, no_padding_2_padding

import recipe.vogue.trainer.registration  # noqa: F401  (vogue_grpo, even where the entry point is not installed)
from recipe.vogue.trainer.dynamic_sampling import DynamicSampling, refill_prompts
from recipe.vogue.core.noisy_branch import (
    BranchDraw,
    NoisyBranchError,
    attach_noisy_pixels,
    changed_images,
    draw_branches,
    has_image,
)
from recipe.vogue.trainer.noisy_inputs import (
    GENERATION_ORDER_KEY,
    BuildSettings,
    PlannedGeneration,
    StepPlan,
    generation_images,
    plan_step,
    response_seeds,
)
from recipe.vogue.trainer.rollout_modes import (
    BRANCH_ADVANTAGES_KEY,
    BRANCH_TIED_KEY,
    generate_noisy_branch,
    generate_noisy_rollout,
    generate_raw,
    generate_two_groups,
)
from recipe.vogue.core.schedule import diffusion_noise_step
from recipe.vogue.core.shaping import rows_in_tied_groups, shape_advantages
from recipe.vogue.core.uncertainty import sampled_token_entropy, symmetric_kl_from_sampled
from recipe.vogue.evaluation.validation import UnbiasedValidationMetrics
from recipe.vogue.trainer.verl_patches import patch_uniform_length_position_ids
from recipe.vogue.trainer.vogue_config import NoisyRolloutConfig, check_multimodal_processor, validate_run_config
from recipe.vogue.trainer.worker import CHUNK_SIZE_KEY, ESTIMATOR_KEY, PAIRED_INPUTS_KEY, VOCAB_MATH_KEY, output_keys

__all__ = ["VOGUE_COLUMNS", "VogueTrainer"]

logger = logging.getLogger(__name__)

# Per-row tensors _compute_old_log_prob adds to the batch for _update_actor (popped there).
VOGUE_COLUMNS = ("vogue_entropy", "vogue_u_per", "vogue_is_noisy")
_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
           "fp32": torch.float32, "float32": torch.float32}


class VogueTrainer(UnbiasedValidationMetrics, RayPPOTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        patch_uniform_length_position_ids()  # verl_patches: batches whose rows all have one length
        self.vogue = validate_run_config(self.config)
        self.noisy_rollout = NoisyRolloutConfig.from_config(self.config.get("noisyrollout"))
        if self.vogue.enable or self.noisy_rollout.enable:
            check_multimodal_processor(self.processor, self.config.actor_rollout_ref.model.path)
        self.dynamic_sampling = DynamicSampling.from_config(self.config)
        self._vogue_metrics: dict[str, float] = {}
        self._generation_metrics: dict[str, float] = {}  # of the step's generation (rollout modes, NoisyRollout)
        self._audit_log_prob_stage: dict[str, torch.Tensor] = {}
        self._warned_no_image = False
        self._plan: StepPlan | None = None

    # ---- the step plan (before generation) and the old-log-prob stage --------------------------------

    def init_workers(self):
        super().init_workers()
        if self.vogue.enable or self.noisy_rollout.enable:
            self.async_rollout_manager = PlannedGeneration(self.async_rollout_manager, self._generate)

    def _generate(self, manager, rows: DataProto) -> DataProto:
        """``PlannedGeneration``'s hook: plan the step from the rows about to be generated, then generate them
        as the rollout mode says (``rollout_modes``)."""
        if self.noisy_rollout.enable:
            return self._generate_noisy_rollout(manager, rows)
        mode = self.vogue.rollout_from
        if mode == "raw" and self.dynamic_sampling:  # drawn over the kept groups, after filtering (_plan_for)
            return generate_raw(manager, rows)
        plan = self._plan = self._make_plan(rows)
        if mode == "raw":
            return generate_raw(manager, rows)
        drawn = plan.draw.is_noisy.nonzero().flatten().tolist()
        generated = range(len(rows)) if mode == "paper_two_groups" else drawn  # x' for every row: the 2nd group
        images, seconds = generation_images(rows, generated, plan.seeds, self._build_settings(),
                                            self.vogue.perturb_workers)
        self._generation_metrics = {"timing_s/vogue_generation_images": seconds}
        if mode == "noisy_branch":
            return generate_noisy_branch(manager, rows, images)
        norm_by_std = self.config.algorithm.get("norm_adv_by_std_in_grpo", True)
        return generate_two_groups(manager, rows, images, plan.draw.is_noisy, norm_by_std)

    def _generate_noisy_rollout(self, manager, rows: DataProto) -> DataProto:
        """NoisyRollout: the last n of each prompt's 2n rows from diffusion-noised images (t annealed over the
        run), all 2n updated on the clean image (``rollout_modes.generate_noisy_rollout``)."""
        config, n = self.noisy_rollout, int(self.config.actor_rollout_ref.rollout.n)
        step = diffusion_noise_step(self.global_steps - 1, self.total_training_steps, config.initial_step,
                                    config.sharpness, config.midpoint)
        seeds = response_seeds(rows, self.global_steps, n, self.vogue.seed)
        noised = [row for row in range(len(rows)) if row % n >= n // 2]
        images, seconds = generation_images(rows, noised, seeds, self._build_settings(), self.vogue.perturb_workers,
                                            diffusion_step=step)
        self._generation_metrics = {"noisyrollout/diffusion_step": float(step),
                                    "noisyrollout/noised_frac": len(noised) / len(rows),
                                    "timing_s/vogue_generation_images": seconds}
        return generate_noisy_rollout(manager, rows, images, {row: row - n // 2 for row in noised})

    def _draw_branches(self, uids: np.ndarray, eligible: torch.Tensor) -> BranchDraw:
        """The step's draws over its rows in generation order (``uids``), for rows with an image."""
        schedule = self.vogue.schedule
        return draw_branches(
            group_index=list(uids),
            step=self.global_steps - 1 + schedule.step_base,
            total_steps=schedule.total_steps or self.total_training_steps,
            seed=self.vogue.seed,
            schedule={"type": schedule.type, "start": schedule.start, "end": schedule.end, "fixed": schedule.fixed},
            granularity=self.vogue.granularity,
            monitor_fraction=self.vogue.monitor_fraction,
            shards=self.vogue.draw_shards or self._get_dp_size(self.actor_rollout_wg, "actor"),
            eligible=eligible,
        )

    def _build_settings(self) -> BuildSettings:
        image_processor = self.processor.image_processor
        dtype = str(self.config.actor_rollout_ref.actor.fsdp_config.get("mixed_precision", {}).get("param_dtype", "bf16"))
        return BuildSettings(
            image_processor=image_processor,
            spec=self.vogue.perturbation,
            patch_size=getattr(image_processor, "patch_size", 14),
            processor_kwargs=dict(self.config.data.get("mm_processor_kwargs") or {}),
            dtype=_DTYPES.get(dtype, torch.bfloat16),  # the compute dtype: the vision tower casts pixels to it anyway
        )

    def _make_plan(self, rows_in_generation_order: DataProto) -> StepPlan:
        return plan_step(
            rows_in_generation_order, self.global_steps, int(self.config.actor_rollout_ref.rollout.n), self.vogue.seed,
            self._draw_branches, self._build_settings(), self.vogue.perturb_workers,
            noisy_generation=self.vogue.rollout_from != "raw",
        )

    @staticmethod
    def _generation_order(batch: DataProto) -> np.ndarray:
        """[B] index of each row in generation order (the identity when generation was not wrapped)."""
        if GENERATION_ORDER_KEY in batch.batch.keys():
            return batch.batch[GENERATION_ORDER_KEY].cpu().numpy()
        return np.arange(len(batch))

    def _plan_for(self, batch: DataProto) -> tuple[StepPlan, BranchDraw, np.ndarray]:
        """The step's plan (made before generation, or now from the batch itself) and its draw in batch order."""
        order = self._generation_order(batch)
        plan = getattr(self, "_plan", None)
        if plan is None or plan.step != self.global_steps:
            plan = self._plan = self._make_plan(batch.select_idxs(np.argsort(order)))
        return plan, plan.for_rows(order, np.asarray(batch.non_tensor_batch["uid"], dtype=object)), order

    def _paired_column(self, batch: DataProto, plan: StepPlan, order: np.ndarray, probed: list[int]) -> np.ndarray:
        """Per row: the paired pixel inputs for probed rows (checked against the row's own), None otherwise."""
        column = np.empty(len(batch), dtype=object)
        own = batch.non_tensor_batch["multi_modal_inputs"]
        for row, paired in zip(probed, plan.paired_pixels(order[probed]), strict=True):
            attach_noisy_pixels(own[row], paired, row)  # raises on an unchanged image or a changed grid
            column[row] = paired
        if self.vogue.audit_dir:  # which perturbation each response got (to compare runs), which images it changed
            self._audit_perturbations = {
                plan.seeds[order[row]]: hashlib.blake2b(column[row]["pixel_values"].float().numpy().tobytes(),
                                                        digest_size=16).hexdigest()
                for row in probed
            }
            self._audit_changed_images = {
                plan.seeds[order[row]]: changed_images(own[row]["pixel_values"], column[row]["pixel_values"],
                                                       own[row]["image_grid_thw"])
                for row in probed
            }
        return column

    def _compute_old_log_prob(self, batch: DataProto):
        if not self.vogue.enable:
            return super()._compute_old_log_prob(batch)
        plan, draw, order = self._plan_for(batch)
        without_image = ~has_image(batch.non_tensor_batch["multi_modal_inputs"])
        if not torch.equal(~without_image, plan.has_image[torch.as_tensor(order)]):
            raise NoisyBranchError("the rows with pixel_values are not the rows whose prompt has an image")
        if without_image.any() and not self._warned_no_image:
            logger.warning(
                "VOGUE: %d of %d rows of step %d have no image; they train as raw-branch rows (z = 0, u_per = 0), "
                "counted in vogue/no_image_frac (warned once per run)",
                int(without_image.sum()), len(batch), self.global_steps,
            )
            self._warned_no_image = True
        probed = draw.is_probed.nonzero().flatten().tolist()
        outputs, mfu = self._log_prob_stage(batch, self._paired_column(batch, plan, order, probed))
        log_probs, entropy = outputs["log_probs"], outputs["entropy"]  # under each row's own (generating) image
        paired_log_probs, paired_entropy = outputs["paired_log_probs"], outputs["paired_entropy"]
        if "u_per" in outputs:
            u_per = outputs["u_per"]
        else:  # the sampled estimators: the row's own branch generated o_t (raw mode: the raw image)
            u_per = torch.zeros_like(log_probs)
            if probed:
                u_per[probed] = symmetric_kl_from_sampled(log_probs[probed], paired_log_probs[probed],
                                                          self.vogue.kl_estimator)
        if self.vogue.entropy == "sampled_token":  # the released code's u_out surrogate, per branch
            own, paired = sampled_token_entropy(log_probs), sampled_token_entropy(paired_log_probs)
        else:
            own, paired = entropy, paired_entropy
        generated_noisy = plan.generated_noisy[torch.as_tensor(order)].to(log_probs.device)[:, None]
        if self.vogue.audit_dir:
            self._audit_log_prob_stage = {"generated_noisy": generated_noisy[:, 0].cpu(),
                                          "paired_log_probs": paired_log_probs.cpu()}
        is_noisy = draw.is_noisy.to(log_probs.device)
        noisy_image_entropy = torch.where(generated_noisy, own, paired)  # the entropy under T(image)
        old_log_prob = DataProto.from_dict(tensors={
            "old_log_probs": log_probs, "entropys": entropy,
            "vogue_entropy": torch.where(is_noisy[:, None], noisy_image_entropy, own),
            "vogue_u_per": u_per, "vogue_is_noisy": is_noisy,
        })
        raw_image_entropy = torch.where(generated_noisy, paired_entropy, entropy)
        noisy_entropy = torch.where(generated_noisy, entropy, paired_entropy)
        self._vogue_metrics = self._branch_metrics(batch.batch["response_mask"], draw, raw_image_entropy, noisy_entropy,
                                                   u_per)
        self._vogue_metrics.update(self._generation_metrics)
        self._vogue_metrics["vogue/no_image_frac"] = float(without_image.float().mean())
        self._vogue_metrics["timing_s/vogue_noisy_inputs_wait"] = plan.wait_seconds
        self._vogue_metrics["vogue/noisy_inputs_build_s"] = plan.build_seconds
        return old_log_prob, mfu

    def _log_prob_stage(self, batch: DataProto, paired_column: np.ndarray) -> tuple[dict[str, torch.Tensor], float]:
        """One call of the worker's log-prob stage on every row: [B, response] tensors (``output_keys``) and mfu."""
        batch.non_tensor_batch[PAIRED_INPUTS_KEY] = paired_column
        try:
            batch_td = left_right_2_no_padding(batch.to_tensordict())
        finally:
            batch.non_tensor_batch.pop(PAIRED_INPUTS_KEY)
        budget = {}
        probed = any(inputs is not None for inputs in paired_column)
        if probed and self.vogue.paired_max_token_len_per_gpu and self.config.actor_rollout_ref.rollout.get(
                "log_prob_use_dynamic_bsz"):
            budget["max_token_len_per_gpu"] = self.vogue.paired_max_token_len_per_gpu  # read by verl's infer_batch
        tu.assign_non_tensor(
            batch_td, calculate_entropy=True, compute_loss=False, **budget,
            **{CHUNK_SIZE_KEY: self.vogue.kl_chunk_size, ESTIMATOR_KEY: self.vogue.kl_estimator,
               VOCAB_MATH_KEY: self.vogue.vocab_math},
        )
        output = self.actor_rollout_wg.compute_log_prob_with_noisy_branch(batch_td)
        tensors = {key: no_padding_2_padding(tu.get(output, key), batch_td).float()
                   for key in output_keys(self.vogue.kl_estimator)}
        return tensors, tu.get(output, "metrics")["mfu"]

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

    # ---- dynamic sampling (DAPO's group filter) ------------------------------------------------------

    def _balance_batch(self, batch: DataProto, metrics, logging_prefix="global_seqlen", keep_minibatch=False):
        """fit()'s hook between the union of the generated rows and the rewards: with
        ``algorithm.filter_groups.enable``, first keep only the groups that pass the filter, refilled to
        ``train_batch_size`` groups (``dynamic_sampling``), then verl's balancing."""
        if self.dynamic_sampling:
            self.dynamic_sampling.fill(batch, self._refill_round, metrics)
        return super()._balance_batch(batch, metrics, logging_prefix=logging_prefix, keep_minibatch=keep_minibatch)

    def _refill_round(self, round_index: int) -> DataProto:
        """One refill round of dynamic sampling: ``gen_batch_size`` more prompts, generated and joined to their
        prompt rows as fit() does for a step (``dynamic_sampling`` explains the choices)."""
        data = self.config.data
        indices = refill_prompts(len(self.train_dataset), int(data.get("gen_batch_size") or data.train_batch_size),
                                 self.vogue.seed, self.global_steps, round_index)
        batch = DataProto.from_single_dict(self.train_dataloader.collate_fn([self.train_dataset[i] for i in indices]))
        batch.meta_info["temperature"] = self.config.actor_rollout_ref.rollout.temperature
        batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
        gen_batch = self._get_gen_batch(batch)
        gen_batch.meta_info["global_steps"] = self.global_steps
        n = int(self.config.actor_rollout_ref.rollout.n)
        self.checkpoint_manager.update_weights(self.global_steps)  # wake the sleeping replicas (verl's _validate)
        output = self.async_rollout_manager.generate_sequences(gen_batch.repeat(repeat_times=n, interleave=True))
        self.checkpoint_manager.sleep_replicas()
        output.meta_info.pop("timing", None)
        batch = batch.repeat(repeat_times=n, interleave=True).union(output)
        if "response_mask" not in batch.batch.keys():
            batch.batch["response_mask"] = compute_response_mask(batch)
        return batch

    # ---- shaping after GRPO -------------------------------------------------------------------------

    def _update_actor(self, batch: DataProto) -> DataProto:
        if not self.vogue.enable:
            if GENERATION_ORDER_KEY in batch.batch.keys():  # stamped by PlannedGeneration (NoisyRollout)
                batch.batch.pop(GENERATION_ORDER_KEY)
            output = super()._update_actor(batch)
            output.meta_info["metrics"].update(self._generation_metrics)
            return output
        if BRANCH_ADVANTAGES_KEY in batch.batch.keys():  # paper_two_groups: GRPO within each branch's own group
            batch.batch["advantages"] = batch.batch.pop(BRANCH_ADVANTAGES_KEY) * batch.batch["response_mask"]
            tied = batch.batch.pop(BRANCH_TIED_KEY)
        else:
            tied = rows_in_tied_groups(batch.batch["token_level_rewards"].sum(-1), batch.non_tensor_batch["uid"])
        missing = [key for key in VOGUE_COLUMNS if key not in batch.batch.keys()]
        if missing:
            raise RuntimeError(f"VOGUE columns {missing} are missing: _compute_old_log_prob did not run its noisy pass")
        entropy, u_per, is_noisy = (batch.batch.pop(key) for key in VOGUE_COLUMNS)
        if GENERATION_ORDER_KEY in batch.batch.keys():
            batch.batch.pop(GENERATION_ORDER_KEY)
        self._plan = None
        vogue = self.vogue
        shaped, shaping_metrics = shape_advantages(
            batch.batch["advantages"], batch.batch["response_mask"], entropy, u_per, is_noisy,
            alpha_out=vogue.alpha_out, beta_out=vogue.beta_out, alpha_per=vogue.alpha_per, beta_per=vogue.beta_per,
            cap_base=vogue.cap_base, tied=tied,
        )
        if vogue.audit_dir:
            self._save_audit(batch, entropy, u_per, is_noisy, shaped, tied)
        batch.batch["advantages"] = shaped
        output = super()._update_actor(batch)
        output.meta_info["metrics"].update(self._vogue_metrics)
        output.meta_info["metrics"].update({f"vogue/{key}": value for key, value in shaping_metrics.items()})
        return output

    def _save_audit(self, batch: DataProto, entropy, u_per, is_noisy, shaped, tied) -> None:
        """Everything needed to recompute GRPO + shaping for this step (``vogue.audit_dir``), a digest of each
        probed response's paired pixel_values and which of its images they change (own vs paired, per image), keyed
        by its perturbation seed, and per row the image grid the actor used, the number of image tokens in the
        rollout's prompt, the reward's per-row outputs and both branches' log-probs of the response (``old_log_probs``
        under the row's own image, ``paired_log_probs`` under the other), from which a sampled u_per is recomputed."""
        os.makedirs(self.vogue.audit_dir, exist_ok=True)
        record = {key: batch.batch[key].cpu()
                  for key in ("token_level_rewards", "response_mask", "advantages", "old_log_probs")}
        inputs = batch.non_tensor_batch["multi_modal_inputs"]
        image_token = self.tokenizer.convert_tokens_to_ids(getattr(self.processor, "image_token", "<|image_pad|>"))
        record.update(
            uid=list(batch.non_tensor_batch["uid"]), entropy=entropy.cpu(), u_per=u_per.cpu(),
            is_noisy=is_noisy.cpu(), shaped=shaped.cpu(), tied=tied.cpu(), vogue=dataclasses.asdict(self.vogue),
            has_image=has_image(inputs), image_grid_thw=[row.get("image_grid_thw") for row in inputs],
            **self._audit_log_prob_stage,
            prompt_image_tokens=(batch.batch["prompts"] == image_token).sum(-1).cpu(),
            perturbations=getattr(self, "_audit_perturbations", {}),
            changed_images=getattr(self, "_audit_changed_images", {}),
            reward_extra={key: batch.non_tensor_batch[key] for key in batch.meta_info.get("reward_extra_keys", [])
                          if key in batch.non_tensor_batch},
        )
        self._audit_perturbations, self._audit_changed_images, self._audit_log_prob_stage = {}, {}, {}
        torch.save(record, os.path.join(self.vogue.audit_dir, f"step_{self.global_steps}.pt"))
