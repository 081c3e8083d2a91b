"""examples/: every launcher parses (bash -n), prints its hydra overrides (PRINT_OVERRIDES=1), and those
overrides compose with verl's config into a config that VOGUE's and verl's validators accept."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
ENV = {"MODEL_PATH": "/models/qwen-vl", "TRAIN_FILES": "/data/train.parquet", "VAL_FILES": "/data/val.parquet",
       "VOGUE_REWARD_FN": "/repo/vogue_reward/verl_entry.py", "CKPT_ROOT": "/ckpt"}


@pytest.fixture
def fake_python(tmp_path):
    """A PYTHON that records each call's module and exits 1 for the preflight when FAIL_PREFLIGHT=1."""
    log = tmp_path / "calls.log"
    script = tmp_path / "python"
    script.write_text(f"""#!/usr/bin/env bash
echo "$2" >> {log}
[[ "$2" == recipe.vogue.preflight && ${{FAIL_PREFLIGHT:-0}} == 1 ]] && exit 1
exit 0
""")
    script.chmod(0o755)
    return script, log


@pytest.mark.parametrize("env, calls, code", [
    ({}, ["recipe.vogue.preflight", "recipe.vogue.main_vogue"], 0),
    ({"FAIL_PREFLIGHT": "1"}, ["recipe.vogue.preflight"], 1),
    ({"SKIP_PREFLIGHT": "1"}, ["recipe.vogue.main_vogue"], 0),
])
def test_launchers_run_the_preflight_first(fake_python, tmp_path, env, calls, code):
    script, log = fake_python
    result = subprocess.run(
        ["bash", str(EXAMPLES / "run_vogue_qwen2_5_vl_7b.sh")],
        env={**os.environ, **ENV, "CKPT_ROOT": str(tmp_path / "ckpt"), "PYTHON": str(script), **env},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert log.read_text().split() == calls
    if code:
        assert "preflight found an ERROR" in result.stderr
    else:  # one metrics file per launch under the run's checkpoint directory
        assert (tmp_path / "ckpt" / "vogue_qwen2_5_vl_7b" / "metrics").is_dir()

# (script, arguments) -> what the run must be
LAUNCHES = {
    ("run_vogue_qwen2_5_vl_7b.sh",): {"enable": True, "tp": 2, "kl_estimator": "full"},
    ("run_vogue_qwen2_5_vl_3b.sh",): {"enable": True, "tp": 1, "kl_estimator": "full"},
    ("run_grpo_qwen2_5_vl_7b.sh",): {"enable": False, "tp": 2},
    ("run_grpo_qwen2_5_vl_3b.sh",): {"enable": False, "tp": 1},
    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "wo_uper"): {"enable": True, "alpha_per": 0.0, "alpha_out": 0.4},
    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "wo_uout"): {"enable": True, "alpha_per": 1.0, "alpha_out": 0.0},
    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "wo_both"): {"enable": True, "alpha_per": 0.0, "alpha_out": 0.0},
    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "forward_kl"): {"enable": True, "kl_estimator": "forward_full"},
    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "fixed_p"): {"enable": True, "schedule": ("fixed", 0.5)},
    ("run_vogue_qwen2_5_vl_7b_multinode.sh",): {"enable": True, "nnodes": 2},
    # Qwen3-VL (paper v3 Table 16): 16-px patches, verl's upstream Qwen3-VL vLLM setting
    ("run_vogue_qwen3_vl_8b.sh",): {"enable": True, "tp": 2, "kl_estimator": "full", "qwen3_vl": True},
    ("run_vogue_qwen3_vl_4b.sh",): {"enable": True, "tp": 1, "kl_estimator": "full", "qwen3_vl": True},
    ("run_grpo_qwen3_vl_8b.sh",): {"enable": False, "tp": 2, "qwen3_vl": True},
    ("run_grpo_qwen3_vl_4b.sh",): {"enable": False, "tp": 1, "qwen3_vl": True},
    # NoisyRollout (Table 1 "+ NoisyRollout"): 5 clean + 5 noisy rollouts, vision tower frozen, K12 settings
    ("run_noisyrollout_qwen2_5_vl_7b.sh",): {"enable": False, "tp": 2, "n": 10, "noisyrollout": 450},
    ("run_noisyrollout_qwen2_5_vl_3b.sh",): {"enable": False, "tp": 1, "n": 10, "noisyrollout": 450},
    # DAPO as the base algorithm (paper v3 Table 6)
    ("run_grpo_dapo_qwen2_5_vl_7b.sh",): {"enable": False, "tp": 2, "dapo": True},
    ("run_vogue_dapo_qwen2_5_vl_7b.sh",): {"enable": True, "tp": 2, "kl_estimator": "full", "dapo": True},
    # LoRA (issue 24): adapters of rank 64 on the language model, merged weights synced to the rollout
    ("run_vogue_lora_qwen2_5_vl_3b.sh",): {"enable": True, "tp": 1, "kl_estimator": "full", "lora": 64},
    ("run_grpo_lora_qwen2_5_vl_3b.sh",): {"enable": False, "tp": 1, "lora": 64},
    ("run_vogue_lora_qwen2_5_vl_7b.sh",): {"enable": True, "tp": 2, "kl_estimator": "full", "lora": 64},
    ("run_grpo_lora_qwen2_5_vl_7b.sh",): {"enable": False, "tp": 2, "lora": 64},
    ("run_vogue_lora_qwen3_vl_4b.sh",): {"enable": True, "tp": 1, "kl_estimator": "full", "qwen3_vl": True, "lora": 64},
    ("run_grpo_lora_qwen3_vl_4b.sh",): {"enable": False, "tp": 1, "qwen3_vl": True, "lora": 64},
    # exploration baselines (issue 25), each at its paper's settings
    **{(f"run_baseline_qwen2_5_vl_{size}.sh", name): {**expected, "tp": {"3b": 1, "7b": 2}[size]}
       for size in ("3b", "7b") for name, expected in {
           "clip_cov": {"enable": False, "loss": ("clip_cov", {"clip_cov_ratio": 0.0002, "clip_cov_lb": 1.0, "clip_cov_ub": 5.0}),
                        "clip": (1.0, 1.0)},
           "kl_cov": {"enable": False, "loss": ("kl_cov", {"kl_cov_ratio": 0.002, "ppo_kl_coef": 1.0}), "clip": (0.2, 0.2)},
           "passk": {"enable": False, "estimator": "grpo_passk"},
           "entropy_adv": {"enable": True, "alpha_per": 0.0, "alpha_out": 0.4, "schedule": ("fixed", 0.0)},
           "grpo_2n": {"enable": False, "n": 10},
       }.items()},
}


def launcher_overrides(*launch, extra=(), env=None):
    result = subprocess.run(
        ["bash", str(EXAMPLES / launch[0]), *launch[1:], *extra],
        env={**os.environ, **ENV, **(env or {}), "PRINT_OVERRIDES": "1"}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.sh")))
def test_bash_syntax(script):
    result = subprocess.run(["bash", "-n", str(EXAMPLES / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_launcher_is_covered():
    scripts = {p.name for p in EXAMPLES.glob("run_*.sh") if 'source "$(dirname "$0")/common.sh"' in p.read_text()}
    assert scripts == {launch[0] for launch in LAUNCHES}


def check_launch(config, expected):
    from recipe.vogue.trainer.vogue_config import validate_run_config
    from verl.utils.config import validate_config

    vogue = validate_run_config(config)
    validate_config(config, use_reference_policy=False, use_critic=False)
    assert vogue.enable == expected["enable"]
    for key in ("kl_estimator", "alpha_per", "alpha_out"):
        if key in expected:
            assert getattr(vogue, key) == expected[key], key
    if "schedule" in expected:
        assert (vogue.schedule.type, vogue.schedule.fixed) == expected["schedule"]
    rollout = config.actor_rollout_ref.rollout
    assert rollout.tensor_model_parallel_size == expected.get("tp", 2)
    assert config.trainer.nnodes == expected.get("nnodes", 1)
    assert (rollout.n, config.trainer.n_gpus_per_node, config.trainer.total_training_steps) == (expected.get("n", 5), 8, 200)
    noisy_rollout = config.noisyrollout
    assert noisy_rollout.enable == ("noisyrollout" in expected)
    if noisy_rollout.enable:
        assert noisy_rollout.initial_step == expected["noisyrollout"]
        assert config.actor_rollout_ref.actor.freeze_vision_tower is True
    dapo = expected.get("dapo", False)
    assert config.algorithm.filter_groups.enable is dapo
    actor = config.actor_rollout_ref.actor
    assert (actor.clip_ratio_low, actor.clip_ratio_high) == expected.get("clip", (0.2, 0.28 if dapo else 0.3))
    loss_mode, loss_settings = expected.get("loss", ("vanilla", {}))
    assert actor.policy_loss.loss_mode == loss_mode
    assert {key: actor.policy_loss[key] for key in loss_settings} == loss_settings
    assert config.algorithm.adv_estimator == expected.get("estimator", "grpo")
    assert config.reward.reward_manager.name == ("dapo" if dapo else "naive")
    if dapo:
        assert config.algorithm.filter_groups.metric == "acc" and config.data.gen_batch_size == config.data.train_batch_size
        assert config.reward.reward_kwargs.overlong_buffer_cfg.enable is True
        assert config.reward.reward_kwargs.max_resp_len == config.data.max_response_length == 2048
    assert config.actor_rollout_ref.model.path == ENV["MODEL_PATH"]
    assert config.data.train_files == ENV["TRAIN_FILES"]
    assert config.reward.custom_reward_function.path == ENV["VOGUE_REWARD_FN"]
    assert config.trainer.default_local_dir.startswith(ENV["CKPT_ROOT"] + "/")
    assert config.actor_rollout_ref.actor.use_kl_loss is False and config.algorithm.use_kl_in_reward is False
    assert config.trainer.use_v1 is False
    # cluster-safe defaults (issue 10): nothing silently dropped or run in one batch, bounded disk, no credentials
    data = config.data
    assert (data.image_min_pixels, data.image_max_pixels, data.max_prompt_length) == (262144, 1254400, 2048)
    assert data.image_max_pixels // 28**2 + 400 <= data.max_prompt_length  # an image at the cap + text fits
    assert data.custom_cls.path == "pkg://recipe.vogue.trainer.dataset" and data.custom_cls.name == "VogueRLHFDataset"
    assert data.val_batch_size == 256 and data.filter_overlong_prompts_workers == 16
    assert config.trainer.max_actor_ckpt_to_keep == 2
    assert "wandb" not in config.trainer.logger
    assert config.vogue.paired_max_token_len_per_gpu == 24576  # verl's log-prob budget: it fits (preflight)
    assert config.actor_rollout_ref.actor.entropy_from_logits_with_chunking is True
    # the model's patch size (verl's default 14 is Qwen2.5-VL's; the preflight checks it against the processor)
    qwen3_vl = expected.get("qwen3_vl", False)
    assert config.data.image_patch_size == (16 if qwen3_vl else 14)
    assert config.actor_rollout_ref.rollout.enable_chunked_prefill is not qwen3_vl
    model, lora = config.actor_rollout_ref.model, expected.get("lora", 0)
    assert model.lora_rank == lora and config.actor_rollout_ref.actor.optim.lr == (3e-6 if lora else 1e-6)
    if lora:
        assert (model.lora_alpha, model.target_modules, model.exclude_modules) == (32, "all-linear", ".*visual.*")
        assert model.lora.merge is True


@pytest.mark.parametrize("launch", list(LAUNCHES), ids=lambda launch: "-".join(launch))
def test_launcher_overrides_compose_into_a_valid_config(compose, launch):
    check_launch(compose(launcher_overrides(*launch), base=()), LAUNCHES[launch])


def test_extra_arguments_and_env_reach_the_overrides(compose):
    lines = launcher_overrides("run_vogue_qwen2_5_vl_7b.sh", extra=["vogue=authors_code", "vogue.seed=9"],
                               env={"TRAIN_BATCH_SIZE": "512", "ROLLOUT_NAME": "sglang"})
    config = compose(lines, base=())
    assert (config.vogue.seed, config.vogue.kl_estimator) == (9, "dupl_code")
    assert config.data.train_batch_size == 512 and config.actor_rollout_ref.rollout.name == "sglang"


def test_dapo_launchers_over_sample_with_dapo_gen_batch_size(compose):
    config = compose(launcher_overrides("run_vogue_dapo_qwen2_5_vl_7b.sh", env={"DAPO_GEN_BATCH_SIZE": "384"}), base=())
    assert (config.data.gen_batch_size, config.data.train_batch_size) == (384, 256)


ABLATION_CHANGES = {
    "wo_uper": {"alpha_per"}, "wo_uout": {"alpha_out"}, "wo_both": {"alpha_per", "alpha_out"},
    "forward_kl": {"kl_estimator"}, "fixed_p": {"schedule"},
}


@pytest.mark.parametrize("preset, forward", [("paper", "forward_full"), ("authors_code", "forward")])
@pytest.mark.parametrize("ablation", sorted(ABLATION_CHANGES))
def test_each_ablation_changes_only_its_own_knob(compose, preset, forward, ablation):
    import dataclasses

    from recipe.vogue.trainer.vogue_config import validate_run_config

    full = validate_run_config(compose(launcher_overrides("run_vogue_qwen2_5_vl_7b.sh", extra=[f"vogue={preset}"]), base=()))
    ablated_lines = launcher_overrides("run_vogue_ablation_qwen2_5_vl_7b.sh", ablation, env={"PRESET": preset})
    ablated = validate_run_config(compose(ablated_lines, base=()))
    changed = {f.name for f in dataclasses.fields(full) if getattr(full, f.name) != getattr(ablated, f.name)}
    assert changed == ABLATION_CHANGES[ablation]
    if ablation == "forward_kl":
        assert (full.kl_estimator, ablated.kl_estimator) == ({"paper": "full", "authors_code": "dupl_code"}[preset], forward)


@pytest.mark.parametrize("name", ["clip_cov", "kl_cov", "passk"])
def test_a_baseline_reaches_verls_registered_function_with_its_settings(compose, name):
    """The composed actor config becomes verl's ActorConfig, and verl's registered policy loss (or advantage
    estimator) runs on it; its settings change the result (so they are the ones read)."""
    import torch
    from verl.trainer.ppo import core_algos
    from verl.utils.config import omega_conf_to_dataclass

    config = compose(launcher_overrides("run_baseline_qwen2_5_vl_7b.sh", name), base=())
    generator = torch.Generator().manual_seed(0)
    if name == "passk":
        estimator = core_algos.get_adv_estimator_fn(config.algorithm.adv_estimator)
        assert estimator is core_algos.compute_grpo_passk_outcome_advantage
        rewards = torch.zeros(4, 3)
        rewards[:, -1] = torch.tensor([1.0, 0.0, 0.0, 1.0])
        advantages, _ = estimator(rewards, torch.ones(4, 3), index=torch.tensor([0, 0, 1, 1]).numpy(), config=config.algorithm)
        assert torch.count_nonzero(advantages.abs().sum(-1)) == 2  # only each group's best response
        return
    actor = omega_conf_to_dataclass(config.actor_rollout_ref.actor)
    loss_fn = core_algos.get_policy_loss_fn(actor.policy_loss.loss_mode)
    assert loss_fn is {"clip_cov": core_algos.compute_policy_loss_clip_cov, "kl_cov": core_algos.compute_policy_loss_kl_cov}[name]
    old = -torch.rand(64, 32, generator=generator)
    new, advantages = old + 0.5 * torch.randn(64, 32, generator=generator), torch.randn(64, 32, generator=generator)
    torch.manual_seed(0)  # clip_cov draws its clipped tokens at random
    loss, _ = loss_fn(old, new, advantages, torch.ones(64, 32), config=actor)
    key = {"clip_cov": "clip_cov_ratio", "kl_cov": "kl_cov_ratio"}[name]
    other = omega_conf_to_dataclass(compose([*launcher_overrides("run_baseline_qwen2_5_vl_7b.sh", name),
                                             f"actor_rollout_ref.actor.policy_loss.{key}=0.5"], base=()).actor_rollout_ref.actor)
    torch.manual_seed(0)
    assert torch.isfinite(loss) and not torch.equal(loss, loss_fn(old, new, advantages, torch.ones(64, 32), config=other)[0])


def test_an_unknown_baseline_is_refused():
    result = subprocess.run(["bash", str(EXAMPLES / "run_baseline_qwen2_5_vl_3b.sh"), "nope"],
                            env={**os.environ, "PRINT_OVERRIDES": "1"}, capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_lora_is_a_switch_of_every_launcher_and_its_learning_rate_can_be_set(compose):
    config = compose(launcher_overrides("run_vogue_qwen2_5_vl_7b.sh", env={"LORA_RANK": "16", "LORA_ALPHA": "16"}), base=())
    assert (config.actor_rollout_ref.model.lora_rank, config.actor_rollout_ref.model.lora_alpha) == (16, 16)
    assert config.actor_rollout_ref.actor.optim.lr == 3e-6
    config = compose(launcher_overrides("run_grpo_lora_qwen2_5_vl_3b.sh", env={"ACTOR_LR": "2e-5"}), base=())
    assert config.actor_rollout_ref.actor.optim.lr == 2e-5 and config.actor_rollout_ref.model.lora_rank == 64


def test_the_grpo_baseline_of_noisy_rollout_has_its_2n_rollouts(compose):
    config = compose(launcher_overrides("run_grpo_qwen2_5_vl_7b.sh", env={"ROLLOUT_N": "10"}), base=())
    assert config.actor_rollout_ref.rollout.n == 10 and config.vogue.enable is False and not config.noisyrollout.enable
    geo = compose(launcher_overrides("run_noisyrollout_qwen2_5_vl_7b.sh", env={"NOISYROLLOUT_PRESET": "geo3k"}), base=())
    assert (geo.noisyrollout.initial_step, geo.noisyrollout.sharpness) == (500, 30.0)


def test_unknown_ablation_is_refused():
    result = subprocess.run(["bash", str(EXAMPLES / "run_vogue_ablation_qwen2_5_vl_7b.sh"), "nope"],
                            env={**os.environ, "PRINT_OVERRIDES": "1"}, capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("launch", [("run_vogue_qwen2_5_vl_7b.sh",), ("run_grpo_qwen2_5_vl_3b.sh",),
                                    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "fixed_p"), ("run_vogue_lora_qwen3_vl_4b.sh",)],
                         ids=lambda x: "-".join(x))
def test_launcher_overrides_compose_with_plain_hydra(real_compose_without_test_overrides, launch):
    """The same check through hydra's own composition of the full override list (seconds per launcher)."""
    check_launch(real_compose_without_test_overrides(launcher_overrides(*launch)), LAUNCHES[launch])


def test_the_metrics_path_reaches_the_ray_job_environment(tmp_path, real_compose_without_test_overrides):
    """On a Ray cluster the trainer sees the Ray job's environment, not the launching shell's: the launcher
    passes VERL_FILE_LOGGER_PATH to main_vogue as a runtime_env override, which hydra composes."""
    log, script = tmp_path / "argv.log", tmp_path / "python"
    script.write_text(f'#!/usr/bin/env bash\n[[ "$2" == recipe.vogue.main_vogue ]] && printf "%s\\n" "$@" > {log}\nexit 0\n')
    script.chmod(0o755)
    result = subprocess.run(["bash", str(EXAMPLES / "run_vogue_qwen2_5_vl_7b.sh")], capture_output=True, text=True,
                            env={**os.environ, **ENV, "CKPT_ROOT": str(tmp_path / "ckpt"), "PYTHON": str(script),
                                 "SKIP_PREFLIGHT": "1"}, timeout=60)
    assert result.returncode == 0, result.stderr
    key = "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH="
    (override,) = [arg for arg in log.read_text().splitlines() if arg.startswith(key)]
    path = override[len(key):]
    assert path.startswith(str(tmp_path / "ckpt" / "vogue_qwen2_5_vl_7b" / "metrics")) and path.endswith(".jsonl")
    config = real_compose_without_test_overrides([override])
    assert config.ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH == path
