"""The ``vogue:`` config section: its schema, defaults (the paper's values) and startup validation.

``VogueConfig.from_config(config.vogue)`` turns the hydra node into a frozen dataclass and rejects
unknown keys, out-of-range values and size-changing or identity perturbations with a message naming
the field. ``validate_run_config(config)`` checks how the section fits the rest of verl's config, and
``check_multimodal_processor`` refuses VOGUE on a model without an image processor.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from PIL import Image

from recipe.vogue.core.perturb import PerturbationSpec, perturb_image
from recipe.vogue.core.schedule import GRANULARITIES, noisy_branch_probability
from recipe.vogue.core.shaping import CAP_BASES
from recipe.vogue.core.typed_fields import check_field_types
from recipe.vogue.core.uncertainty import FULL_KL_ESTIMATORS, SAMPLED_KL_ESTIMATORS
from recipe.vogue.core.vocab_math import VOCAB_MATH_MODES

__all__ = [
    "KL_ESTIMATORS",
    "ENTROPY_MODES",
    "ROLLOUT_SOURCES",
    "ScheduleConfig",
    "VogueConfig",
    "NoisyRolloutConfig",
    "validate_run_config",
    "check_data_files",
    "check_multimodal_processor",
]

KL_ESTIMATORS = (*FULL_KL_ESTIMATORS, *SAMPLED_KL_ESTIMATORS)
ENTROPY_MODES = ("full", "sampled_token")
ROLLOUT_SOURCES = ("raw", "noisy_branch", "paper_two_groups")
# Estimators whose direction matters (KL(p‖q) with p the raw image's): defined for rollouts from the raw image.
FORWARD_ESTIMATORS = ("forward", "forward_full")
GRPO_ESTIMATORS = ("grpo", "vogue_grpo")
# Operations some augmentation libraries offer that would change the image size, hence the number of
# image tokens: a response generated from the raw image could not be teacher-forced under them.
SIZE_CHANGING_OPS = ("crop", "resize", "scale", "expand", "pad", "zoom", "random_resized_crop")


def _plain(node: Any) -> Any:
    """A hydra/omegaconf node (or anything mapping-like) as plain Python containers."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(node, DictConfig | ListConfig):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra/verl
        pass
    return dict(node) if isinstance(node, Mapping) else node


def _reject_unknown(section: str, given: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"{section}: unknown keys {unknown}; known keys: {sorted(known)}")


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {list(choices)}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """p_noi(s) (METHOD.md §4). ``total_steps=None`` means the trainer's total training steps.

    ``step_base``: s at the first training step. 0 (paper reading): p = 1 − (k − 1)/S for verl's
    1-based global step k, i.e. 1.0 first and 1/S last; 1 (the released code): p = 1 − k/S, i.e.
    1 − 1/S first and 0 at the last step.
    """

    type: str = "linear"
    start: float = 1.0
    end: float = 0.0
    fixed: float = 0.5
    total_steps: int | None = None
    step_base: int = 0

    def __post_init__(self):
        check_field_types(self, "vogue.schedule")
        if self.step_base not in (0, 1):
            raise ValueError(f"vogue.schedule.step_base must be 0 or 1, got {self.step_base}")
        try:
            noisy_branch_probability(0, 1, self.type, self.start, self.end, self.fixed)
        except ValueError as error:
            raise ValueError(f"vogue.schedule: {error}") from None
        if self.total_steps is not None and self.total_steps <= 0:
            raise ValueError(f"vogue.schedule.total_steps must be > 0 or null, got {self.total_steps}")


@dataclasses.dataclass(frozen=True)
class VogueConfig:
    """Every VOGUE knob (METHOD.md §1–§5). Defaults are the paper's choices (the ``paper`` preset)."""

    enable: bool = True
    rollout_from: str = "raw"
    kl_estimator: str = "full"
    entropy: str = "full"
    alpha_out: float = 0.4
    beta_out: float = 2.0
    alpha_per: float = 1.0
    beta_per: float = 2.0
    cap_base: str = "advantage"
    granularity: str = "sample"
    draw_shards: int | None = None
    monitor_fraction: float = 0.0
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    perturbation: PerturbationSpec = dataclasses.field(default_factory=PerturbationSpec)
    seed: int = 0
    kl_chunk_size: int = 128
    vocab_math: str = "auto"
    paired_max_token_len_per_gpu: int | None = None
    perturb_workers: int = 8
    audit_dir: str | None = None

    def __post_init__(self):
        check_field_types(self, "vogue")
        _choice("vogue.rollout_from", self.rollout_from, ROLLOUT_SOURCES)
        if self.rollout_from != "raw" and self.kl_estimator in FORWARD_ESTIMATORS:
            raise ValueError(
                f"vogue.kl_estimator={self.kl_estimator} (the forward-KL ablation, KL(raw‖noisy) sampled from the raw "
                f"image) is defined for vogue.rollout_from=raw; {self.rollout_from} samples noisy-branch responses "
                "from the perturbed image: use a symmetric estimator (full, sampled, dupl_code)"
            )
        _choice("vogue.kl_estimator", self.kl_estimator, KL_ESTIMATORS)
        _choice("vogue.entropy", self.entropy, ENTROPY_MODES)
        _choice("vogue.cap_base", self.cap_base, CAP_BASES)
        _choice("vogue.granularity", self.granularity, GRANULARITIES)
        _choice("vogue.vocab_math", self.vocab_math, VOCAB_MATH_MODES)
        for name in ("alpha_out", "alpha_per"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"vogue.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("beta_out", "beta_per"):
            if not getattr(self, name) > 0:
                raise ValueError(f"vogue.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.monitor_fraction < 1.0:
            raise ValueError(f"vogue.monitor_fraction must be in [0, 1), got {self.monitor_fraction}")
        for name in ("kl_chunk_size", "perturb_workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"vogue.{name} must be >= 1, got {getattr(self, name)}")
        if self.paired_max_token_len_per_gpu is not None and self.paired_max_token_len_per_gpu < 1:
            raise ValueError(f"vogue.paired_max_token_len_per_gpu must be >= 1 or null, got {self.paired_max_token_len_per_gpu}")
        if self.draw_shards is not None and self.draw_shards < 1:
            raise ValueError(f"vogue.draw_shards must be >= 1 or null (the actor's data-parallel size), got {self.draw_shards}")
        if self.enable:
            _check_perturbation(self.perturbation)

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None) -> VogueConfig:
        """Build from the ``vogue`` hydra node; missing keys take the paper's defaults."""
        given = _plain(node) or {}
        _reject_unknown("vogue", given, {f.name for f in dataclasses.fields(cls)})
        schedule = _plain(given.pop("schedule", None)) or {}
        _reject_unknown("vogue.schedule", schedule, {f.name for f in dataclasses.fields(ScheduleConfig)})
        perturbation = _plain(given.pop("perturbation", None)) or {}
        resizing = sorted(set(perturbation) & set(SIZE_CHANGING_OPS))
        if resizing:
            raise ValueError(
                f"vogue.perturbation: {resizing} would change the image size; the noisy branch teacher-forces the "
                "raw-image response, which needs the same image_grid_thw (METHOD.md §1)"
            )
        try:
            spec = PerturbationSpec.from_config(perturbation)
        except ValueError as error:
            raise ValueError(f"vogue.perturbation: {error}") from None
        return cls(**given, schedule=ScheduleConfig(**schedule), perturbation=spec)


@dataclasses.dataclass(frozen=True)
class NoisyRolloutConfig:
    """NoisyRollout (arXiv 2504.13055, METHOD.md §7), the ``noisyrollout`` section: of the 2n rollouts of a
    prompt (``actor_rollout_ref.rollout.n`` = 2n), the last n are generated from diffusion-noised images,
    x_t = clip(√ᾱ_t·x + √(1−ᾱ_t)·ε, 0, 1) with t = int(t0·(1 − sigmoid(c·(s − s_mid)/S))); all 2n form one
    GRPO group and are updated on the clean image; no VOGUE shaping. t0 = ``initial_step``, c =
    ``sharpness``, s_mid = ``midpoint``, S = the run's total steps, s = verl's step − 1; ``num_steps`` = the
    diffusion process's length (1000)."""

    enable: bool = False
    initial_step: int = 450
    sharpness: float = 60.0
    midpoint: float = 40.0
    num_steps: int = 1000

    def __post_init__(self):
        check_field_types(self, "noisyrollout")
        if not 0 <= self.initial_step < self.num_steps:
            raise ValueError(f"noisyrollout.initial_step must be in [0, num_steps={self.num_steps}), got {self.initial_step}")

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None) -> NoisyRolloutConfig:
        given = _plain(node) or {}
        _reject_unknown("noisyrollout", given, {f.name for f in dataclasses.fields(cls)})
        return cls(**given)


def _check_noisy_rollout(config: Any, vogue: VogueConfig) -> None:
    noisy_rollout = NoisyRolloutConfig.from_config(config.get("noisyrollout"))
    if not noisy_rollout.enable:
        return
    if vogue.enable:
        raise ValueError("noisyrollout.enable=true is its own method (no VOGUE shaping): set vogue.enable=false")
    if config.algorithm.adv_estimator != "grpo":
        raise ValueError(f"NoisyRollout uses GRPO advantages: algorithm.adv_estimator must be grpo, got "
                         f"{config.algorithm.adv_estimator!r}")
    n = int(config.actor_rollout_ref.rollout.n)
    if n < 2 or n % 2:
        raise ValueError(f"NoisyRollout generates n clean + n noisy rollouts per prompt: actor_rollout_ref.rollout.n "
                         f"must be 2n (even, >= 2), got {n}")
    if not config.data.get("image_key"):
        raise ValueError("noisyrollout.enable=true needs images: data.image_key is empty")


def _check_perturbation(spec: PerturbationSpec) -> None:
    if spec.is_identity:
        raise ValueError(
            "vogue.perturbation is the identity (every op off or zero strength): the noisy branch would equal "
            "the raw one and u_per would be 0; enable an op or set vogue.enable=false"
        )
    probe = Image.new("RGB", (30, 22), (120, 60, 200))
    if perturb_image(probe, spec, seed=0).size != probe.size:
        raise ValueError("vogue.perturbation changes the image size; it must keep it (METHOD.md §1)")


def _check_dynamic_sampling(config: Any, vogue: VogueConfig) -> None:
    """``algorithm.filter_groups`` runs in VogueTrainer's ``_balance_batch`` hook (``dynamic_sampling``)."""
    node = config.algorithm.get("filter_groups") or {}
    if not node.get("enable", False):
        return
    if not config.trainer.get("balance_batch", True):
        raise ValueError("algorithm.filter_groups.enable=true filters groups in fit()'s _balance_batch hook, which "
                         "trainer.balance_batch=false skips: set trainer.balance_batch=true")
    if vogue.enable and vogue.rollout_from != "raw":
        raise ValueError(f"algorithm.filter_groups.enable=true draws VOGUE's branches over the kept groups, after "
                         f"generation: it needs vogue.rollout_from=raw, got {vogue.rollout_from!r}")
    rounds = node.get("max_num_gen_batches", 0)
    if isinstance(rounds, bool) or not isinstance(rounds, int):
        raise ValueError(f"algorithm.filter_groups.max_num_gen_batches must be an integer, got {rounds!r}")
    gen_batch_size = config.data.get("gen_batch_size")
    if gen_batch_size is not None and (isinstance(gen_batch_size, bool) or not isinstance(gen_batch_size, int)
                                       or gen_batch_size < 1):
        raise ValueError(f"data.gen_batch_size must be a positive integer or null, got {gen_batch_size!r}")


def _check_overlong_buffer(config: Any) -> None:
    """verl's ``dapo`` reward manager reads ``reward.reward_kwargs.{overlong_buffer_cfg,max_resp_len}``; say
    what is wrong with them by name (its own asserts do not), and that no other manager reads them."""
    kwargs = config.reward.get("reward_kwargs") or {}
    buffer = kwargs.get("overlong_buffer_cfg") or {}
    if not buffer.get("enable", False):
        return
    if config.reward.reward_manager.get("name") != "dapo":
        raise ValueError("reward.reward_kwargs.overlong_buffer_cfg.enable=true is read only by verl's dapo reward "
                         f"manager: set reward.reward_manager.name=dapo (got {config.reward.reward_manager.get('name')!r})")
    length, max_len = buffer.get("len"), kwargs.get("max_resp_len")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"reward.reward_kwargs.overlong_buffer_cfg.len must be a positive integer, got {length!r}")
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < length:
        raise ValueError(f"reward.reward_kwargs.max_resp_len must be an integer >= overlong_buffer_cfg.len = {length}, "
                         f"got {max_len!r}")


def validate_run_config(config: Any) -> VogueConfig:
    """Validate the ``vogue`` section and its fit with verl's config; return the parsed section."""
    vogue = VogueConfig.from_config(config.get("vogue"))
    _check_noisy_rollout(config, vogue)
    _check_dynamic_sampling(config, vogue)
    _check_overlong_buffer(config)
    estimator = config.algorithm.adv_estimator
    if not vogue.enable:
        if estimator == "vogue_grpo":
            raise ValueError("algorithm.adv_estimator=vogue_grpo needs vogue.enable=true (use grpo for the baseline)")
        return vogue
    if estimator not in GRPO_ESTIMATORS:
        raise ValueError(
            f"vogue.enable=true shapes GRPO advantages: algorithm.adv_estimator must be one of "
            f"{list(GRPO_ESTIMATORS)}, got {estimator!r}"
        )
    if config.trainer.get("use_v1", False):
        raise ValueError("VOGUE runs on verl's legacy RayPPOTrainer: set trainer.use_v1=false")
    rollout_correction = config.algorithm.get("rollout_correction") or {}
    if rollout_correction.get("bypass_mode", False):
        raise ValueError(
            "VOGUE's noisy pass runs in verl's old-log-prob step, which algorithm.rollout_correction.bypass_mode "
            "skips: set it to false"
        )
    if int(config.actor_rollout_ref.rollout.n) < 2:
        raise ValueError("vogue.enable=true needs GRPO groups: actor_rollout_ref.rollout.n must be >= 2")
    if config.actor_rollout_ref.model.get("use_fused_kernels", False):
        needs = ("the logits of both branches for the full-vocabulary KL and " if vogue.kl_estimator in FULL_KL_ESTIMATORS
                 else "")
        raise ValueError(
            f"vogue.enable=true reads {needs}the logits for the fp32 token entropies (u_out) under every estimator "
            f"(vogue.kl_estimator={vogue.kl_estimator}), and fused kernels never materialise them: set "
            "actor_rollout_ref.model.use_fused_kernels=false"
        )
    if not config.data.get("image_key"):
        raise ValueError("vogue.enable=true needs images: data.image_key is empty")
    return vogue


def check_multimodal_processor(processor: Any, model_path: str) -> None:
    """Refuse VOGUE on a model whose processor cannot encode images (a text-only model)."""
    if processor is None or getattr(processor, "image_processor", None) is None:
        raise ValueError(
            f"vogue.enable=true needs a multimodal model with an image processor; {model_path!r} has none "
            "(set vogue.enable=false for text-only GRPO)"
        )


def _file_list(value: Any) -> list[str]:
    value = _plain(value)
    if value is None or value == "" or value == []:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def check_data_files(config: Any) -> None:
    """``data.train_files`` and ``data.val_files`` are set and every local one exists (remote URIs such as
    ``hdfs://`` are left to verl). Run before Ray starts, so a typo costs seconds, not a cluster start-up."""
    for key in ("train_files", "val_files"):
        files = _file_list(config.data.get(key))
        if not files:
            raise ValueError(f"data.{key} is not set: pass data.{key}=<parquet file or list of files>")
        missing = [path for path in files if "://" not in path and not os.path.isfile(os.path.expanduser(path))]
        if missing:
            raise ValueError(f"data.{key}: no such file {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
