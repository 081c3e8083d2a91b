"""The preflight on crafted datasets and configs: each problem produces its ERROR line, a good run passes,
the row counting agrees with verl's own overlong filter, and every launcher's override list passes on a
tiny prepared mix with the tiny model's processor standing in (GPU checks SKIPPED)."""

import io
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from recipe.vogue.preflight import checks as preflight

REPO = Path(__file__).resolve().parents[2]
REWARD = "pkg://vogue_reward.verl_entry"


def png(width, height, colour=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def row(index, image=(56, 56), source="crafted", answer="red"):
    """One prepared row (data_prep's layout); ``image=None`` makes it text-only."""
    question = "What colour is the shape? Think in <think> </think>, answer in \\boxed{}."
    return {
        "data_source": source,
        "prompt": [{"role": "user", "content": ("<image>" if image else "") + question}],
        "images": [{"bytes": png(*image), "path": None}] if image else [],
        "ability": "general",
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {"index": index, "split": "x", "answer_type": "text", "question": question},
    }


def write(path, rows):
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


@pytest.fixture
def files(tmp_path):
    def _files(train_rows, val_rows):
        return write(tmp_path / "train.parquet", train_rows), write(tmp_path / "val.parquet", val_rows)

    return _files


@pytest.fixture
def check(tiny_model_dir, tmp_path, monkeypatch):
    """check(train_rows, val_rows, *overrides) -> findings of a small CPU-shaped run."""
    monkeypatch.setattr(preflight, "_free_bytes", lambda path: 10 * 2**40)

    def _check(train_rows, val_rows, *overrides, cache=True, train_file=None, **kwargs):
        train = train_file or write(tmp_path / "train.parquet", train_rows)
        val = write(tmp_path / "val.parquet", val_rows)
        base = [
            f"data.train_files={train}", f"data.val_files={val}", f"actor_rollout_ref.model.path={tiny_model_dir}",
            f"reward.custom_reward_function.path={REWARD}", "+cpu=tiny", "trainer.logger=[console]",
            "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4", "data.val_batch_size=8",
            "data.max_prompt_length=128", f"trainer.default_local_dir={tmp_path / 'ckpt'}",
        ]
        return preflight.run([*base, *overrides], workers=1, cache_dir=str(tmp_path / "cache") if cache else None,
                             **kwargs)

    return _check


def errors(findings):
    return [f for f in findings if f.status == "ERROR"]


def lines(findings, status, check_prefix):
    return [f for f in findings if f.status == status and f.check.startswith(check_prefix)]


GOOD = [row(i) for i in range(8)]


def test_a_good_dataset_passes(check):
    findings = check(GOOD, GOOD[:4])
    assert errors(findings) == [], preflight.format_table(findings)
    assert {f.status for f in findings if f.check.startswith(("CUDA", "flash-attn", "vLLM"))} == {"SKIPPED"}
    table = preflight.format_table(findings)
    assert "8 rows; 0 over max_prompt_length=128" in table and "image tokens p50 4 / p95 4 / max 4" in table


# The tiny processor caps an image at 16 tokens (a 56×56 image is 4): with a 50-token prompt budget, a
# 56×56 prompt (45 tokens) fits and a 112×112 one (57 tokens) does not.
SHORT = "data.max_prompt_length=50"
BIG = (112, 112)


def test_oversized_images_are_counted_as_dropped(check):
    train = GOOD + [row(8, image=BIG)]
    findings = check(train, GOOD[:3] + [row(9, image=BIG)], SHORT)
    val = lines(findings, "ERROR", "data val")
    assert val, preflight.format_table(findings)
    assert "1 over max_prompt_length=50" in val[0].detail
    assert lines(findings, "ERROR", "data train") and "1 over" in lines(findings, "ERROR", "data train")[0].detail
    # 1 of 200 training rows is within the 1% tolerance: a WARN, and the validation set still fails
    big_train = [row(i) for i in range(199)] + [row(199, image=BIG)]
    findings = check(big_train, GOOD[:4], SHORT)
    assert lines(findings, "WARN", "data train") and not lines(findings, "ERROR", "data train")


def test_pixel_cap_brings_oversized_images_back(check):
    findings = check(GOOD, GOOD[:3] + [row(9, image=BIG)], SHORT, f"data.image_max_pixels={56 * 56}")
    assert not lines(findings, "ERROR", "data"), preflight.format_table(findings)


def test_extreme_aspect_ratio_is_a_processor_rejection(check):
    findings = check(GOOD, GOOD[:3] + [row(9, image=(4000, 10))])
    rejected = lines(findings, "ERROR", "data val")
    assert rejected and "1 rejected by the processor" in rejected[0].detail
    assert "absolute aspect ratio must be smaller than 200" in rejected[0].detail


def test_text_only_rows_are_a_warning_with_a_count(check):
    findings = check(GOOD + [row(8, image=None), row(9, image=None)], GOOD[:4])
    warned = [f for f in lines(findings, "WARN", "data train") if "without an image" in f.detail]
    assert warned and warned[0].detail.startswith("2 rows without an image")
    assert errors(findings) == []


def test_duplicate_validation_ids(check):
    findings = check(GOOD, [row(0), row(1), row(1, answer="blue"), row(2)])
    assert any("share 1 (data_source, extra_info.index) ids" in f.detail for f in errors(findings))


@pytest.mark.parametrize("overrides, check_name, message", [
    (["trainer.n_gpus_per_node=3"], "batch arithmetic", "not divisible by 3 GPUs"),
    (["data.val_batch_size=null"], "data.val_batch_size", "ONE batch"),
    (["data.gen_batch_size=3", "actor_rollout_ref.rollout.agent.num_workers=2", "actor_rollout_ref.rollout.n=3"],
     "batch arithmetic", "= 9 rows do not split evenly over rollout.agent.num_workers = 2"),
    (["base=dapo", "trainer.balance_batch=false"], "vogue config", "trainer.balance_batch=true"),
    (["data.image_patch_size=16"], "data.image_patch_size", "16 vs the processor's patch_size 14"),
    (["data.image_max_pixels=250000"], "pixel cap vs prompt budget", "318 tokens"),
    (["actor_rollout_ref.actor.use_dynamic_bsz=true", "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=100"],
     "token budgets", "=100 < max_prompt_length + max_response_length = 152: one sequence does not fit"),
    (["data.train_batch_size=16", "actor_rollout_ref.actor.ppo_mini_batch_size=16"], "data train",
     "8 usable rows < data.train_batch_size=16"),
    (["trainer.logger=[console,wandb]"], "logger wandb", "no WANDB_API_KEY"),
    (["vogue.kl_chunk_size=0"], "vogue config", "kl_chunk_size must be >= 1"),
    # a GRPO baseline with groups of one: verl's advantage is then the raw reward
    (["vogue.enable=false", "actor_rollout_ref.rollout.n=1"], "group size", "REINFORCE without a baseline"),
    (["vogue.enable=false", "actor_rollout_ref.rollout.n=1", "algorithm.adv_estimator=rloo"], "group size",
     "adv_estimator=rloo with actor_rollout_ref.rollout.n=1"),
])
def test_each_problem_has_its_error_line(check, monkeypatch, tmp_path, overrides, check_name, message):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    findings = check(GOOD, GOOD[:4], *overrides)
    matching = [f for f in errors(findings) if f.check == check_name]
    assert matching and message in matching[0].detail, preflight.format_table(findings)


@pytest.mark.parametrize("overrides, check_name, message", [
    (["data.train_batch_size=0"], "data.train_batch_size", "data.train_batch_size=0: expected an integer >= 1"),
    (["actor_rollout_ref.actor.ppo_mini_batch_size=abc"], "actor_rollout_ref.actor.ppo_mini_batch_size",
     "ppo_mini_batch_size='abc': expected an integer >= 1"),
    (["trainer.n_gpus_per_node=-2"], "trainer.n_gpus_per_node", "trainer.n_gpus_per_node=-2"),
    (["data.image_min_pixels=1000000", "data.image_max_pixels=1000"], "data.image_min_pixels",
     "data.image_min_pixels=1000000 > data.image_max_pixels=1000 (MIN_PIXELS > MAX_PIXELS)"),
    (["trainer.total_training_stepz=3"], "config", "Could not override 'trainer.total_training_stepz'"),
])
def test_unusable_settings_are_one_error_line_each(check, overrides, check_name, message):
    """Settings every later check divides or compares by, and hydra's own errors: named, no traceback."""
    findings = check(GOOD, GOOD[:4], *overrides)
    matching = [f for f in errors(findings) if f.check == check_name]
    assert matching and message in matching[0].detail and "\n" not in matching[0].detail, preflight.format_table(findings)


@pytest.mark.parametrize("content, message", [(b"not a parquet file", "cannot be read as a dataset"),
                                              (None, "has no rows")], ids=["corrupt", "empty"])
def test_an_unreadable_or_empty_data_file_is_named(check, tmp_path, content, message):
    path = tmp_path / "bad.parquet"
    if content is None:
        pd.DataFrame([row(0)]).iloc[:0].to_parquet(path)
    else:
        path.write_bytes(content)
    findings = check(GOOD, GOOD[:4], train_file=str(path))
    matching = [f for f in errors(findings) if f.check == "data train" and str(path) in f.detail]
    assert matching and message in matching[0].detail, preflight.format_table(findings)


def test_checkpoint_size_against_free_disk(check, monkeypatch):
    overrides = ["trainer.save_freq=10", "trainer.total_training_steps=100", "trainer.max_actor_ckpt_to_keep=2"]
    findings = check(GOOD, GOOD[:4], *overrides, estimate_for="qwen2_5_vl_7b")
    line = [f for f in findings if f.check == "checkpoints"][0]
    assert line.status == "OK" and "8.29B parameters" in line.detail and "keeping 2" in line.detail
    monkeypatch.setattr(preflight, "_free_bytes", lambda path: 100 * 2**30)
    findings = check(GOOD, GOOD[:4], *overrides, estimate_for="qwen2_5_vl_7b")
    assert [f for f in errors(findings) if f.check == "checkpoints"]
    monkeypatch.setattr(preflight, "_free_bytes", lambda path: 10 * 2**40)
    findings = check(GOOD, GOOD[:4], "trainer.save_freq=10", "trainer.total_training_steps=100",
                     estimate_for="qwen2_5_vl_3b")
    line = [f for f in findings if f.check == "checkpoints"][0]
    assert line.status == "WARN" and "every one" in line.detail and "3.75B parameters" in line.detail


def test_paired_pass_memory_is_checked_against_what_the_shards_leave(check):
    """7B (8.29B parameters, V = 152,064) at 8 ranks: 16 B/parameter of FSDP shards = 15.4 GiB per GPU; the
    logits of a probed micro-batch are (1 + 24/152)·T·V·2 B (cpu/tiny's 128 + 24 tokens) + 3·128·V·4 B."""
    from recipe.vogue.preflight.cost_model import parameter_count, target_model_config

    parameters = parameter_count(target_model_config("qwen2_5_vl_7b"))
    budget = ["actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=true",
              "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=24576",
              "actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=bf16", "trainer.n_gpus_per_node=8"]

    def line(*overrides, gpu):
        findings = check(GOOD, GOOD[:4], *budget, *overrides, estimate_for="qwen2_5_vl_7b", gpu_memory_gb=gpu)
        return [f for f in findings if f.check == "paired pass memory"][0]

    def fits(gpu):  # brute force over token budgets, in steps of 1
        left = gpu * 2**30 - 16 * parameters // 8
        per_token, fixed = (1 + 24 / 152) * 152064 * 2, 3 * 128 * 152064 * 4
        tokens = 0
        while fixed + (tokens + 1) * per_token <= 0.5 * left:
            tokens += 1
        return tokens

    roomy = line(gpu=80)
    assert roomy.status == "OK" and "V=152064" in roomy.detail and "over 8 ranks" in roomy.detail
    assert f"the paired budget that fits 50% of it is {fits(80)} tokens" in roomy.detail and fits(80) > 24576
    tight = line(gpu=24)
    assert tight.status == "ERROR" and f"is {fits(24)} tokens" in tight.detail and fits(24) < 24576
    assert line(f"vogue.paired_max_token_len_per_gpu={fits(24)}", gpu=24).status == "OK"
    assert line(f"vogue.paired_max_token_len_per_gpu={fits(24) + 1}", gpu=24).status == "ERROR"
    assert line(gpu=32).status == "ERROR"
    assert line("actor_rollout_ref.actor.fsdp_config.optimizer_offload=true", gpu=32).status == "OK"  # moments on host
    assert line("trainer.n_gpus_per_node=1", gpu=24).status == "ERROR"  # 132 GB of shards on one 24 GB GPU


def test_reward_check_counts_bad_rows_and_self_rejections(check):
    bad = dict(row(8), extra_info={"index": 8, "answer_type": "choice", "choices": ["a", "b"], "question": "q"},
               reward_model={"style": "rule", "ground_truth": "Z"})
    findings = check(GOOD + [bad], GOOD[:4])
    line = [f for f in errors(findings) if f.check.startswith("reward train")]
    assert line and "1 bad_row" in line[0].detail
    assert all(f.status == "OK" for f in findings if f.check.startswith("reward val"))


def verl_filter_count(path, model_dir, max_prompt_length):
    """Rows verl's own RLHFDataset keeps after its overlong filter, in a fresh process (its datasets.filter
    forks workers, which deadlock when forked from a process that already runs tokenizer/torch threads)."""
    script = (
        "import sys; from omegaconf import OmegaConf; from verl.utils import hf_processor, hf_tokenizer; "
        "from verl.utils.dataset.rl_dataset import RLHFDataset; "
        "config = OmegaConf.create({'max_prompt_length': int(sys.argv[3]), 'filter_overlong_prompts': True, "
        "'filter_overlong_prompts_workers': 1, 'image_key': 'images'}); "
        "dataset = RLHFDataset([sys.argv[1]], hf_tokenizer(sys.argv[2]), config, hf_processor(sys.argv[2])); "
        "print('KEPT', len(dataset.dataframe))"
    )
    result = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", script, path, model_dir,
                             str(max_prompt_length)], capture_output=True, text=True, timeout=300, check=True)
    return int(result.stdout.split("KEPT")[-1])


@pytest.mark.slow
def test_row_counting_agrees_with_verls_filter_and_is_cached(check, tiny_model_dir, tmp_path):
    from verl.utils import hf_processor, hf_tokenizer

    rows = [row(i, image=(28 * (1 + i % 6), 28 * (1 + i % 4))) for i in range(299)] + [row(299, image=BIG)]
    train = write(tmp_path / "filtered.parquet", rows)
    config = preflight.compose([f"data.train_files={train}", "data.max_prompt_length=50", "+cpu=tiny",
                                f"actor_rollout_ref.model.path={tiny_model_dir}"])
    tokenizer, processor = hf_tokenizer(tiny_model_dir), hf_processor(tiny_model_dir)
    dataset = preflight.load_dataset(train, config.data, tokenizer, processor)
    measured, cached = preflight.measured_rows(dataset, train, workers=2, cache_dir=str(tmp_path / "c"),
                                               model_path=tiny_model_dir)  # two spawned workers
    assert not cached
    kept_by_verl = verl_filter_count(train, tiny_model_dir, 50)
    assert kept_by_verl == sum(r[3] is None and r[0] <= 50 for r in measured) < len(rows)
    again, cached = preflight.measured_rows(dataset, train, workers=1, cache_dir=str(tmp_path / "c"))
    assert cached and again == measured
    assert preflight.measure_file(dataset, train, tiny_model_dir, False, workers=1) == measured  # one process agrees
    from omegaconf import open_dict

    with open_dict(config):
        config.data.image_max_pixels = 28 * 28 * 4
    capped = preflight.load_dataset(train, config.data, tokenizer, processor)
    _, cached = preflight.measured_rows(capped, train, workers=1, cache_dir=str(tmp_path / "c"))
    assert not cached  # other pixel limits: measured again


def test_driver_versions():
    assert preflight.driver_supports("13.0", "580.65.06")
    assert not preflight.driver_supports("13.0", "570.124.06")
    assert preflight.driver_supports("12.8", "550.54.15") and not preflight.driver_supports("12.4", "470.1")


def test_node_report_names_what_is_missing(tmp_path):
    present = tmp_path / "data.parquet"
    present.write_text("x")
    report = preflight.node_report({"modules": ["recipe.vogue.trainer.worker", "no_such_module_xyz"],
                                    "files": [str(present), str(tmp_path / "missing.parquet")]},
                                   marker=str(tmp_path / "marker"))
    assert report["shared_checkpoints"] is False
    assert [m.split(":")[0] for m in report["missing"]] == ["import no_such_module_xyz", f"file {tmp_path}/missing.parquet"]


def node_config(use_remove_padding=True, rollout="vllm"):
    from omegaconf import OmegaConf

    return OmegaConf.create({
        "data": {"train_files": "/shared/train.parquet", "val_files": ["/shared/val.parquet"]},
        "reward": {"custom_reward_function": {"path": REWARD}},
        "actor_rollout_ref": {"model": {"path": "/models/qwen", "use_remove_padding": use_remove_padding},
                              "rollout": {"name": rollout}},
        "trainer": {"nnodes": 2, "default_local_dir": "/shared/ckpt"},
    })


@pytest.mark.parametrize("use_remove_padding, rollout, gpu_modules", [
    (True, "vllm", ["flash_attn", "flash_attn_2_cuda", "vllm"]), (False, "sglang", ["sglang"]), (False, "hf", []),
])
def test_every_node_imports_the_gpu_packages_the_run_needs(use_remove_padding, rollout, gpu_modules):
    paths = preflight._cluster_paths(node_config(use_remove_padding, rollout))
    assert paths["modules"] == ["recipe.vogue.trainer.worker", *gpu_modules, "vogue_reward.verl_entry"]
    assert paths["files"] == ["/shared/train.parquet", "/shared/val.parquet", "/models/qwen"]


def test_without_a_reachable_ray_cluster_the_node_checks_are_a_warning(monkeypatch):
    import ray

    def no_cluster(**kwargs):
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    monkeypatch.setattr(ray, "init", no_cluster)
    (finding,) = preflight.check_nodes(node_config())
    assert finding.status == "WARN" and finding.check == "nodes"
    assert "no Ray cluster is reachable here (Could not find any running Ray instance.)" in finding.detail
    assert "\n" not in finding.detail


def test_cli_exits_non_zero_on_an_error(tiny_model_dir, tmp_path):
    train = write(tmp_path / "t.parquet", GOOD)
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "recipe.vogue.preflight", "--workers", "1", "--cache-dir", "",
         f"data.train_files={train}", f"data.val_files={train}", f"actor_rollout_ref.model.path={tiny_model_dir}",
         "+cpu=tiny", "trainer.logger=[console]", f"reward.custom_reward_function.path={REWARD}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "VERL_PLATFORM": "cpu"},
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ERROR    data.val_batch_size" in result.stdout and "status   check" in result.stdout


LAUNCHERS = [
    ("run_grpo_qwen2_5_vl_3b.sh",), ("run_vogue_qwen2_5_vl_3b.sh",), ("run_grpo_qwen2_5_vl_7b.sh",),
    ("run_vogue_qwen2_5_vl_7b.sh",), ("run_vogue_ablation_qwen2_5_vl_7b.sh", "forward_kl"),
    ("run_vogue_ablation_qwen2_5_vl_7b.sh", "wo_both"), ("run_vogue_qwen2_5_vl_7b_multinode.sh",),
    ("run_grpo_qwen3_vl_4b.sh",), ("run_vogue_qwen3_vl_4b.sh",), ("run_grpo_qwen3_vl_8b.sh",), ("run_vogue_qwen3_vl_8b.sh",),
    ("run_noisyrollout_qwen2_5_vl_3b.sh",), ("run_noisyrollout_qwen2_5_vl_7b.sh",),
    ("run_grpo_dapo_qwen2_5_vl_7b.sh",), ("run_vogue_dapo_qwen2_5_vl_7b.sh",),
    ("run_vogue_lora_qwen2_5_vl_3b.sh",), ("run_grpo_lora_qwen2_5_vl_3b.sh",), ("run_vogue_lora_qwen2_5_vl_7b.sh",),
    ("run_grpo_lora_qwen2_5_vl_7b.sh",), ("run_vogue_lora_qwen3_vl_4b.sh",), ("run_grpo_lora_qwen3_vl_4b.sh",),
    *[(f"run_baseline_qwen2_5_vl_{size}.sh", name) for size in ("3b", "7b")
      for name in ("clip_cov", "kl_cov", "passk", "entropy_adv", "grpo_2n")],
]


def target_model(script):
    """The committed config (recipe/vogue/config/models) a launcher's size estimates use: qwen3_vl_8b, …"""
    return re.search(r"qwen\d(?:_\d)?_vl_\d+b", script).group(0)


@pytest.fixture(scope="module")
def prepared_mix(tmp_path_factory):
    from data_prep.synthetic import main as synthetic

    out = tmp_path_factory.mktemp("mix")
    synthetic(["--out-dir", str(out), "--train", "512", "--val", "64"])
    return str(out / "train.parquet"), str(out / "val.parquet"), str(tmp_path_factory.mktemp("preflight_cache"))


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["flash_attention_2", "sdpa"])  # ATTN: the launchers' switch for nodes without flash-attn
@pytest.mark.parametrize("launch", LAUNCHERS, ids=lambda launch: "-".join(launch))
def test_every_launcher_passes_preflight_on_a_tiny_mix(launch, attention, prepared_mix, request, tmp_path, monkeypatch):
    train, val, cache = prepared_mix
    # the stand-in processor is the tiny model of the launcher's architecture (its patch size is checked)
    stand_in = request.getfixturevalue("tiny_qwen3_vl_model_dir" if "qwen3_vl" in launch[0] else "tiny_model_dir")
    env = {**os.environ, "MODEL_PATH": stand_in, "TRAIN_FILES": train, "VAL_FILES": val,
           "CKPT_ROOT": str(tmp_path), "PRINT_OVERRIDES": "1", "ATTN": attention}
    overrides = subprocess.run(["bash", str(REPO / "examples" / launch[0]), *launch[1:]], env=env,
                               capture_output=True, text=True, check=True).stdout.splitlines()
    model = preflight.compose(overrides).actor_rollout_ref.model
    assert model.use_remove_padding is (attention == "flash_attention_2")
    assert model.override_config.get("attn_implementation", "flash_attention_2") == attention
    monkeypatch.setattr(preflight, "_free_bytes", lambda path: 10 * 2**40)  # 2 × ~100 GB checkpoints

    def no_ray_cluster(**kwargs):  # whatever Ray instance this machine happens to run
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr("ray.init", no_ray_cluster)
    findings = preflight.run(overrides, estimate_for=target_model(launch[0]), workers=1, cache_dir=cache)
    assert not errors(findings), preflight.format_table(findings)
    if "multinode" in launch[0]:  # no Ray cluster of 2 nodes here: said, not failed
        assert any(f.status == "WARN" and f.check == "nodes" for f in findings), preflight.format_table(findings)
    assert any(f.status == "SKIPPED" and f.check == "flash-attn" for f in findings)


def test_a_file_without_reward_columns_is_named_by_the_reward_check(check, tmp_path):
    rows = [{key: value for key, value in row(i).items() if key != "reward_model"} for i in range(8)]
    findings = check(rows, GOOD[:4])
    matching = [f for f in errors(findings) if f.check == "reward" and "has no reward_model column(s)" in f.detail]
    assert matching and str(tmp_path / "train.parquet") in matching[0].detail, preflight.format_table(findings)


def test_a_missing_local_model_directory_is_not_taken_for_a_hub_id(check, tmp_path):
    missing = tmp_path / "models" / "Qwen2.5-VL-7B"
    findings = check(GOOD, GOOD[:4], f"actor_rollout_ref.model.path={missing}")
    assert [(f.check, f.detail) for f in errors(findings)] == [
        ("model", f"actor_rollout_ref.model.path={missing}: no such directory")]


def test_a_file_without_its_prompt_column_is_named_not_rejected_row_by_row(check, tmp_path):
    rows = [{key: value for key, value in row(i).items() if key != "prompt"} for i in range(8)]
    findings = check(rows, GOOD[:4])
    matching = [f for f in errors(findings) if f.check == "data train"]
    assert matching and matching[0].detail == (f"data.train_files: {tmp_path / 'train.parquet'} has no 'prompt' "
                                               "column (data.prompt_key): no row has a prompt")
    assert not any("rejected by the processor (first" in f.detail for f in findings)


def test_a_rejected_row_is_named_by_position_and_index(check):
    broken = dict(row(5), images=[{"bytes": b"not an image", "path": None}])
    findings = check([*GOOD, broken], GOOD[:4])
    line = [f for f in findings if f.check.startswith("data train") and "1 rejected by the processor" in f.detail]
    assert line and f"(first: row {len(GOOD)} (extra_info.index 5): " in line[0].detail, preflight.format_table(findings)


LORA = ["actor_rollout_ref.model.lora_rank=8", "actor_rollout_ref.model.lora.merge=True"]


@pytest.mark.parametrize("overrides, status, message", [
    ([], "OK", "full fine-tuning"),
    (["actor_rollout_ref.model.lora.rank=8"], "ERROR", "lora.rank is Megatron's key"),
    (["actor_rollout_ref.model.lora_rank=8"], "ERROR", "set actor_rollout_ref.model.lora.merge=True"),
    (LORA, "WARN", "leaves adapters on the vision tower"),
    ([*LORA, "actor_rollout_ref.model.exclude_modules=[blocks]"], "WARN", "leaves adapters on the vision tower"),
    ([*LORA, "actor_rollout_ref.model.exclude_modules='.*visual.*'"], "OK", "vision tower excluded"),
])
def test_lora_settings(overrides, status, message):
    (finding,) = preflight.check_lora(preflight.compose(overrides))
    assert (finding.status, finding.check) == (status, "lora") and message in finding.detail, finding


def test_lora_shards_are_smaller_by_the_frozen_bases_gradients_and_moments():
    """7B at 8 ranks: LoRA keeps the base's fp32 weights but neither its gradients nor AdamW's moments; the
    adapters have all three (SHARD_BYTES per parameter)."""
    from recipe.vogue.preflight.cost_model import lora_parameter_count, parameter_count, target_model_config

    target = target_model_config("qwen2_5_vl_7b")
    base, lora = parameter_count(target), lora_parameter_count(target, 64, "all-linear", ".*visual.*")
    config = preflight.compose(["trainer.n_gpus_per_node=8"])
    full, adapted = preflight.sharded_state_bytes(config, base), preflight.sharded_state_bytes(config, base, lora)
    per = preflight.SHARD_BYTES
    saved = ((per["grads"] + per["optimizer"]) * base - (per["params"] + per["grads"] + per["optimizer"]) * lora) / 8
    assert full - adapted == pytest.approx(saved, abs=1) and adapted < full / 3
    assert 150e6 < lora < 200e6  # rank 64 on 28 layers of 3584 / 18944 / 512-wide projections


def _a_gpu_node_without_flash_attn(monkeypatch):
    """torch sees a GPU, nvidia-smi reports a recent driver, flash_attn and vllm fail or succeed to import."""
    import builtins
    import types

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(preflight.subprocess, "run", lambda *a, **k: types.SimpleNamespace(stdout="580.65.06\n"))
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("flash_attn"):
            raise ImportError(f"No module named '{name}'")
        if name == "vllm":
            return types.SimpleNamespace(__version__="0.0-test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_a_missing_flash_attn_is_an_error_that_recommends_sdpa(monkeypatch):
    config = preflight.compose([])
    assert config.actor_rollout_ref.model.use_remove_padding
    _a_gpu_node_without_flash_attn(monkeypatch)
    findings = {f.check: f for f in preflight.check_gpu_stack(config)}
    flash = findings["flash-attn"]
    assert flash.status == "ERROR" and "launch with ATTN=sdpa" in flash.detail
    longest = config.data.max_prompt_length + config.data.max_response_length
    assert f"up to {longest} tokens" in flash.detail and findings["vLLM"].status == "OK"


def test_with_sdpa_flash_attn_is_not_needed(monkeypatch):
    config = preflight.compose(["actor_rollout_ref.model.use_remove_padding=False",
                                "+actor_rollout_ref.model.override_config.attn_implementation=sdpa"])
    _a_gpu_node_without_flash_attn(monkeypatch)
    flash = {f.check: f for f in preflight.check_gpu_stack(config)}["flash-attn"]
    assert flash.status == "OK" and "not needed" in flash.detail and "attn_implementation=sdpa" in flash.detail
