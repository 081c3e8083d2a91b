"""The vogue config: hydra composition of vogue_trainer.yaml and both presets, and startup validation."""

import pytest
from omegaconf import OmegaConf

from recipe.vogue.core.perturb import PerturbationSpec
from recipe.vogue.trainer.vogue_config import VogueConfig, check_multimodal_processor, validate_run_config


def test_paper_preset_is_the_default(compose):
    config = compose()
    vogue = validate_run_config(config)
    assert vogue == VogueConfig()  # the dataclass defaults are the paper's values
    choices = (vogue.kl_estimator, vogue.entropy, vogue.granularity, vogue.cap_base)
    assert choices == ("full", "full", "sample", "advantage")
    assert vogue.perturbation.sigma == 0.4
    assert (vogue.alpha_out, vogue.beta_out, vogue.alpha_per, vogue.beta_per) == (0.4, 2.0, 1.0, 2.0)
    assert config.actor_rollout_ref.actor.entropy_from_logits_with_chunking is True  # fp32 u_out (issue 9 §7)
    assert OmegaConf.to_container(config.reward.custom_reward_function.reward_kwargs) == {"format_weight": 0.1}
    # common to both presets (METHOD.md §6)
    actor = config.actor_rollout_ref.actor
    assert (actor.clip_ratio_low, actor.clip_ratio_high, actor.use_kl_loss) == (0.2, 0.3, False)
    assert config.algorithm.use_kl_in_reward is False and config.algorithm.adv_estimator == "grpo"
    assert config.actor_rollout_ref.rollout.n == 3  # TEST_OVERRIDES; the yaml's own value is checked below
    assert compose(base=["actor_rollout_ref.model.path=x"]).actor_rollout_ref.rollout.n == 5
    assert config.trainer.use_v1 is False


def test_authors_code_preset(compose):
    config = compose(["vogue=authors_code"])
    vogue = validate_run_config(config)
    assert (vogue.kl_estimator, vogue.entropy, vogue.granularity, vogue.cap_base) == (
        "dupl_code", "sampled_token", "worker", "shaped")
    assert (vogue.draw_shards, vogue.schedule.step_base) == (None, 1)
    spec = vogue.perturbation
    assert (spec.sigma, spec.rotate_interpolation, spec.jitter_order, spec.noise_quantize, spec.images) == (
        0.2, "nearest", "random", "floor", "first")
    assert config.reward.custom_reward_function.reward_kwargs.format_weight == 0.0


def test_every_field_stays_overridable(compose):
    config = compose(["vogue=authors_code", "vogue.perturbation.sigma=0.8", "vogue.schedule.type=fixed",
                      "vogue.alpha_per=0", "vogue.kl_estimator=forward", "vogue.schedule.total_steps=50"])
    vogue = validate_run_config(config)
    assert (vogue.perturbation.sigma, vogue.schedule.type, vogue.alpha_per, vogue.kl_estimator) == (
        0.8, "fixed", 0.0, "forward")
    assert vogue.schedule.total_steps == 50


@pytest.mark.parametrize(
    "override, message",
    [
        ("+vogue.alpha=1", r"vogue: unknown keys \['alpha'\]"),
        ("+vogue.schedule.steps=3", r"vogue.schedule: unknown keys \['steps'\]"),
        ("+vogue.perturbation.blur=1", r"vogue.perturbation: unknown perturbation keys \['blur'\]"),
        ("+vogue.perturbation.crop=0.9", r"would change the image size"),
        ("vogue.kl_estimator=reverse", r"vogue.kl_estimator must be one of"),
        ("vogue.entropy=approx", r"vogue.entropy must be one of"),
        ("vogue.cap_base=both", r"vogue.cap_base must be one of"),
        ("vogue.granularity=batch", r"vogue.granularity must be one of"),
        ("vogue.alpha_out=-0.1", r"vogue.alpha_out must be >= 0"),
        ("vogue.beta_per=0", r"vogue.beta_per must be > 0"),
        ("vogue.monitor_fraction=1.0", r"vogue.monitor_fraction must be in \[0, 1\)"),
        ("vogue.kl_chunk_size=0", r"vogue.kl_chunk_size must be >= 1"),
        ("vogue.schedule.start=1.5", r"vogue.schedule: schedule start must be in \[0, 1\]"),
        ("vogue.schedule.type=step", r"vogue.schedule: schedule must be one of"),
        ("vogue.schedule.total_steps=0", r"vogue.schedule.total_steps must be > 0"),
        ("vogue.perturbation.sigma=-1", r"vogue.perturbation: perturbation.sigma must be >= 0"),
        ("vogue.perturbation.strength=7", r"vogue.perturbation: perturbation.strength must be in"),
        ("vogue.rollout_from=elsewhere", r"vogue.rollout_from must be one of"),
        # wrong types (a string from ${oc.env:...} is truthy; True is a number to Python)
        ("vogue.enable='false'", r"vogue.enable must be true or false, got 'false' \(a str\)"),
        ("vogue.perturbation.hflip='no'", r"perturbation.hflip must be true or false, got 'no'"),
        ("vogue.kl_chunk_size=2.5", r"vogue.kl_chunk_size must be an integer, got 2.5"),
        ("vogue.alpha_out=true", r"vogue.alpha_out must be a number, got True"),
        ("vogue.seed='7'", r"vogue.seed must be a number, got '7'"),
        ("vogue.perturbation.sigma=inf", r"perturbation.sigma must be finite"),
        ("vogue.perturbation.strength=nan", r"perturbation.strength must be finite"),
        ("vogue.schedule.start='1'", r"vogue.schedule.start must be a number"),
        ("vogue.schedule.step_base=2", r"vogue.schedule.step_base must be 0 or 1"),
        ("vogue.draw_shards=0", r"vogue.draw_shards must be >= 1 or null"),
        ("vogue.perturbation.images=last", r"perturbation.images must be one of \['all', 'first'\]"),
    ],
)
def test_bad_vogue_values_are_named(compose, override, message):
    with pytest.raises(ValueError, match=message):
        validate_run_config(compose([override]))


def test_identity_perturbation_is_refused_unless_disabled(compose):
    off = ["vogue.perturbation.hflip=false", "vogue.perturbation.vflip=false", "vogue.perturbation.rotate=false",
           "vogue.perturbation.color_jitter=false", "vogue.perturbation.gaussian_noise=false"]
    with pytest.raises(ValueError, match="vogue.perturbation is the identity"):
        validate_run_config(compose(off))
    assert validate_run_config(compose([*off, "vogue.enable=false"])).enable is False


@pytest.mark.parametrize("mode", ["noisy_branch", "paper_two_groups"])
def test_rollout_modes_and_their_estimators(compose, mode):
    assert validate_run_config(compose([f"vogue.rollout_from={mode}"])).rollout_from == mode
    for estimator in ("forward", "forward_full"):
        with pytest.raises(ValueError, match=f"kl_estimator={estimator} .* is defined for vogue.rollout_from=raw"):
            validate_run_config(compose([f"vogue.rollout_from={mode}", f"vogue.kl_estimator={estimator}"]))


def test_noisy_rollout_presets_and_checks(compose):
    from recipe.vogue.trainer.vogue_config import NoisyRolloutConfig

    on = ["vogue.enable=false", "noisyrollout=geo3k", "actor_rollout_ref.rollout.n=10"]
    config = compose(on)
    validate_run_config(config)
    assert NoisyRolloutConfig.from_config(config.noisyrollout) == NoisyRolloutConfig(True, 500, 30.0, 40.0, 1000)
    assert NoisyRolloutConfig.from_config(compose(["vogue.enable=false", "noisyrollout=k12"]).noisyrollout).initial_step == 450
    assert NoisyRolloutConfig.from_config(compose().noisyrollout).enable is False
    off = ["vogue.enable=false", "noisyrollout=k12"]
    for overrides, message in (
        (["noisyrollout=k12", "actor_rollout_ref.rollout.n=6"], "set vogue.enable=false"),
        ([*off, "actor_rollout_ref.rollout.n=5"], "must be 2n \\(even"),
        ([*off, "noisyrollout.initial_step=1000"], "initial_step must be in"),
        ([*off, "+noisyrollout.t=3"], "noisyrollout: unknown keys"),
        ([*off, "noisyrollout.enable='yes'"], "noisyrollout.enable must be true or false"),
        ([*off, "algorithm.adv_estimator=gae"], "must be grpo"),
    ):
        with pytest.raises(ValueError, match=message):
            validate_run_config(compose(overrides))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["algorithm.adv_estimator=gae"], "algorithm.adv_estimator must be one of"),
        (["trainer.use_v1=true"], "trainer.use_v1=false"),
        (["actor_rollout_ref.rollout.n=1"], "rollout.n must be >= 2"),
        (["actor_rollout_ref.model.use_fused_kernels=true"], "fused kernels"),
        (["vogue.kl_estimator=forward_full", "actor_rollout_ref.model.use_fused_kernels=true"], "both branches"),
        (["vogue.kl_estimator=sampled", "actor_rollout_ref.model.use_fused_kernels=true"], "entropies .u_out. under every"),
        (["vogue.kl_estimator=dupl_code", "actor_rollout_ref.model.use_fused_kernels=true"], "fused kernels never"),
        (["data.image_key=''"], "data.image_key is empty"),
        (["algorithm.rollout_correction.bypass_mode=true"], "bypass_mode"),
        (["vogue.enable=false", "algorithm.adv_estimator=vogue_grpo"], "vogue_grpo needs vogue.enable=true"),
    ],
)
def test_bad_run_configs(compose, overrides, message):
    with pytest.raises(ValueError, match=message):
        validate_run_config(compose(overrides))


def test_run_checks_that_do_not_apply_when_disabled(compose):
    assert validate_run_config(compose(["vogue.enable=false", "algorithm.adv_estimator=gae"])).enable is False
    fused_grpo = ["vogue.enable=false", "actor_rollout_ref.model.use_fused_kernels=true"]
    assert validate_run_config(compose(fused_grpo)).enable is False
    assert validate_run_config(compose(["vogue.kl_estimator=sampled"])).kl_estimator == "sampled"
    assert validate_run_config(compose(["algorithm.adv_estimator=vogue_grpo"])).enable


def test_from_config_defaults_and_plain_dicts():
    assert VogueConfig.from_config(None) == VogueConfig()
    parsed = VogueConfig.from_config({"perturbation": {"sigma": 0.8}, "schedule": {"type": "cosine"}})
    assert parsed.perturbation == PerturbationSpec(sigma=0.8) and parsed.schedule.type == "cosine"


def test_text_only_model_is_refused(image_processor):
    from types import SimpleNamespace

    with pytest.raises(ValueError, match="needs a multimodal model with an image processor; 'Qwen/text'"):
        check_multimodal_processor(None, "Qwen/text")
    with pytest.raises(ValueError, match="multimodal"):
        check_multimodal_processor(SimpleNamespace(image_processor=None), "m")
    check_multimodal_processor(SimpleNamespace(image_processor=image_processor), "m")




def test_fast_overrides_match_hydra(compose, real_compose):
    """The test helper's value overrides give exactly what hydra composes from the same list."""
    overrides = ["vogue=authors_code", "vogue.perturbation.sigma=0.8", "+vogue.extra=1",
                 "actor_rollout_ref.rollout.n=7", "trainer.logger=[console,wandb]", "data.image_key=''"]
    fast, real = compose(overrides), real_compose(overrides)
    assert OmegaConf.to_container(fast) == OmegaConf.to_container(real)
    with pytest.raises(KeyError, match="not in the config"):
        compose(["vogue.no_such_key=1"])


@pytest.mark.parametrize("preset, weight", [("paper", 0.1), ("authors_code", 0.0)])
def test_reward_kwargs_are_what_the_reward_function_takes(compose, preset, weight):
    """verl calls compute_score(..., **reward_kwargs): the presets' kwargs must be accepted and weigh format."""
    from vogue_reward import compute_score

    kwargs = OmegaConf.to_container(compose([f"vogue={preset}"]).reward.custom_reward_function.reward_kwargs)
    extra_info = {"answer_type": "number", "question": "q", "split": "test", "index": 0}
    unformatted = compute_score("mathvista", "It is \\boxed{3}", "3", extra_info, **kwargs)
    assert unformatted["acc"] == 1.0 and unformatted["format"] == 0.0
    assert unformatted["score"] == pytest.approx(1.0 - weight)
