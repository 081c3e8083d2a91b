"""Check a run before GPU hours are spent: data, reward, config arithmetic and environment.

    python -m recipe.vogue.preflight [--gpu-memory-gb 80] [--estimate-for qwen2_5_vl_7b|qwen3_vl_8b|…] [--workers 8]
        [--cache-dir ~/.cache/vogue_preflight] [--reward-sample 20] <the hydra overrides of the training run>

Runs on a CPU node in minutes and needs only the processor/tokenizer (not the weights) and the data
files. Prints one table and exits 1 if any line is an ERROR (every launcher runs it first; set
``SKIP_PREFLIGHT=1`` to skip). What it checks:

- data, per file and per ``data_source``: rows; rows verl's overlong filter would drop (the same token
  counting as ``RLHFDataset.maybe_filter_out_long_prompts``, through the configured dataset class,
  processor and pixel limits); rows the processor REJECTS (verl's filter silently counts them as
  overlong); prompt- and image-token percentiles; rows without an image (legal: raw-branch rows);
  duplicate (data_source, extra_info.index) ids. ERROR if any validation row or more than 1% of training
  rows would be dropped or rejected, or validation ids repeat (evaluation groups samples by them).
  Rows are measured in ``--workers`` processes and cached per file (content hash + processor settings).
- reward: the configured function scores a sample of rows per data_source with its own ground truth
  written as a well-formed answer; ``bad_row``/``internal_error`` counts, and how often the verifier
  rejects its own ground truth.
- config arithmetic: verl's own ``validate_config`` and VOGUE's; the batch vs the data-parallel size;
  ``data.val_batch_size``; token budgets (prompt + response vs the actor, log-prob, paired-pass and
  rollout budgets; the pixel cap vs ``max_prompt_length``); ``data.image_patch_size`` vs the processor;
  checkpoint retention and size vs free disk; the paired pass's peak logits memory vs what a
  ``--gpu-memory-gb`` GPU has left after the FSDP shards at the run's ranks, and the budget that fits; logger backends that need credentials. Sizes come from the TARGET model's config
  (``--estimate-for`` a committed fixture, default the model path's own config).
- environment: on a GPU node, torch's CUDA vs the driver, flash-attn built for the installed torch (when the
  run's padding-free path needs it; if it does not import, the line says to launch with ``ATTN=sdpa`` and what
  that costs), vLLM; without a GPU these lines are SKIPPED. With ``trainer.nnodes > 1``: a Ray task on every node
  checks that the code, the reward, the data and the model are there and that the checkpoint
  directory is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow.parquet as pq

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")
STATUSES = ("OK", "WARN", "ERROR", "SKIPPED")
# verl's estimators whose baseline is the other responses of the same prompt (core_algos.AdvantageEstimator)
GROUP_ESTIMATORS = frozenset({"grpo", "grpo_vectorized", "grpo_passk", "rloo", "rloo_vectorized", "opo", "gpg", "gdpo",
                              "vogue_grpo"})
TRAIN_DROP_LIMIT = 0.01
# The paired pass's logits may take at most this share of what a GPU has left after the FSDP shards
# (activations, gathered FSDP units and the allocator's fragmentation need the rest).
PAIRED_LOGITS_SHARE = 0.5
# Resident per parameter on the trainer ranks, FSDP-sharded: fp32 weights, fp32 gradients, AdamW's two fp32 moments.
SHARD_BYTES = {"params": 4, "grads": 4, "optimizer": 8}
# Minimum NVIDIA driver for a CUDA major version (CUDA's release notes).
MIN_DRIVER = {12: (525, 60), 13: (580, 65)}
CREDENTIALS = {"wandb": ("WANDB_API_KEY", "api.wandb.ai"), "swanlab": ("SWANLAB_API_KEY", None)}


@dataclasses.dataclass(frozen=True)
class Finding:
    status: str
    check: str
    detail: str


def _first_line(error: BaseException) -> str:
    """The first line of the innermost cause's message (readers wrap the error that says what is wrong)."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return f"{type(error).__name__}: " + (str(error).strip().splitlines() or [""])[0]


# (key, smallest value, null allowed): the settings every later check divides or compares by
POSITIVE_SETTINGS = (
    ("data.train_batch_size", 1, False), ("data.val_batch_size", 1, True), ("data.gen_batch_size", 1, True),
    ("data.max_prompt_length", 1, False), ("data.max_response_length", 1, False),
    ("data.image_min_pixels", 1, True), ("data.image_max_pixels", 1, True),
    ("actor_rollout_ref.actor.ppo_mini_batch_size", 1, False), ("actor_rollout_ref.rollout.n", 1, False),
    ("actor_rollout_ref.rollout.agent.num_workers", 1, False), ("trainer.n_gpus_per_node", 1, False),
    ("trainer.nnodes", 1, False),
)


def check_numbers(config) -> list[Finding]:
    """ERROR per setting of ``POSITIVE_SETTINGS`` that is not an integer ≥ its minimum, and for a pixel floor
    above the pixel cap; the other checks run only when this returns nothing."""
    from omegaconf import OmegaConf

    findings = []
    for key, smallest, nullable in POSITIVE_SETTINGS:
        value = OmegaConf.select(config, key)
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
            findings.append(Finding("ERROR", key, f"{key}={value!r}: expected an integer >= {smallest}"))
    low, high = (OmegaConf.select(config, f"data.image_{bound}_pixels") for bound in ("min", "max"))
    if not findings and low is not None and high is not None and low > high:
        findings.append(Finding("ERROR", "data.image_min_pixels", f"data.image_min_pixels={low} > "
                                f"data.image_max_pixels={high} (MIN_PIXELS > MAX_PIXELS): no image size satisfies both"))
    return findings


def compose(overrides: Sequence[str]):
    """The training run's config: ``vogue_trainer.yaml`` + overrides, as ``main_vogue`` composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return hydra_compose(config_name="vogue_trainer", overrides=list(overrides))


# ---- data ------------------------------------------------------------------------------------------

def measure_row(dataset, doc: dict) -> tuple[int, int, int, str | None]:
    """(prompt tokens, image tokens, images, rejection) for one row, counted like verl's overlong filter
    (``RLHFDataset.maybe_filter_out_long_prompts``), whose failures it reports instead of hiding them."""
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    processor = dataset.processor
    try:
        messages = dataset._build_messages(dict(doc), key=dataset.prompt_key)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                             **dict(dataset.apply_chat_template_kwargs))
        images, videos, audios = dataset._process_multi_modal_info(messages, dataset.image_patch_size, dataset.config)
        if images is None and videos is None and audios is None:
            ids = processor.tokenizer(text=text, add_special_tokens=False, return_attention_mask=False)["input_ids"]
            return len(ids), 0, 0, None
        inputs = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos, audio=audios,
                                                   mm_processor_kwargs=dataset.mm_processor_kwargs)
    except Exception as error:  # the processor's verdict on this row, reported per row
        return 0, 0, 0, f"{type(error).__name__}: {error}".splitlines()[0][:200]
    merge = getattr(processor.image_processor, "merge_size", 2)
    grid = inputs.get("image_grid_thw")
    image_tokens = int(grid.prod(-1).sum()) // merge**2 if grid is not None else 0
    return len(inputs["input_ids"][0]), image_tokens, len(images or []), None


def measure_rows_main() -> None:
    """Entry of one measuring process: JSON job on stdin → JSON rows in ``job["out"]``."""
    from omegaconf import OmegaConf

    from verl.utils import hf_processor, hf_tokenizer

    job = json.load(sys.stdin)
    tokenizer = hf_tokenizer(job["model_path"], trust_remote_code=job["trust_remote_code"])
    processor = hf_processor(job["model_path"], trust_remote_code=job["trust_remote_code"])
    dataset = load_dataset(job["path"], OmegaConf.create(job["data_config"]), tokenizer, processor)
    rows = [measure_row(dataset, dataset.dataframe[i]) for i in range(job["start"], job["end"])]
    with open(job["out"], "w") as f:
        json.dump(rows, f)


def measure_file(dataset, path: str, model_path: str, trust_remote_code: bool, workers: int) -> list[tuple]:
    """Every row of ``path`` measured, split over ``workers`` fresh Python processes (each loads the
    processor and the file once; forked workers would inherit the tokenizer's and torch's threads)."""
    import tempfile

    from omegaconf import OmegaConf

    rows = len(dataset.dataframe)
    if workers <= 1 or rows < 256:
        return [measure_row(dataset, dataset.dataframe[i]) for i in range(rows)]
    edges = np.linspace(0, rows, workers + 1).astype(int)
    command = [sys.executable, "-c", "from recipe.vogue.preflight.checks import measure_rows_main; measure_rows_main()"]
    with tempfile.TemporaryDirectory(prefix="vogue-preflight-") as scratch:
        jobs = []
        for k, (start, end) in enumerate(zip(edges[:-1], edges[1:])):
            job = {"path": path, "data_config": OmegaConf.to_container(dataset.config, resolve=True),
                   "model_path": model_path, "trust_remote_code": trust_remote_code, "start": int(start),
                   "end": int(end), "out": os.path.join(scratch, f"{k}.json")}
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
            process.stdin.write(json.dumps(job))
            process.stdin.close()
            jobs.append((process, job))
        measured = []
        for process, job in jobs:
            error = process.stderr.read()
            if process.wait() != 0:
                raise RuntimeError(f"measuring rows {job['start']}–{job['end']} of {path} failed:\n{error[-2000:]}")
            with open(job["out"]) as f:
                measured += [tuple(row) for row in json.load(f)]
    return measured


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def processor_settings(dataset) -> dict:
    """Everything besides the file that decides a row's token count (the cache key)."""
    from recipe.vogue.trainer.dataset import pixel_limits

    processor = dataset.processor
    image_processor = getattr(processor, "image_processor", None)
    return {
        "processor": type(processor).__name__,
        "image_processor": json.loads(image_processor.to_json_string()) if image_processor is not None else None,
        "chat_template": getattr(processor, "chat_template", None),
        "vocabulary": len(processor.tokenizer),
        "image_patch_size": dataset.image_patch_size,
        "pixel_limits": pixel_limits(dataset.config),
        "mm_processor_kwargs": dict(dataset.mm_processor_kwargs),
        "apply_chat_template_kwargs": dict(dataset.apply_chat_template_kwargs),
        "keys": [dataset.prompt_key, dataset.image_key],
        "dataset_class": type(dataset).__qualname__,
    }


def measured_rows(dataset, path: str, workers: int, cache_dir: str | None, model_path: str = "",
                  trust_remote_code: bool = False) -> tuple[list, bool]:
    """Per-row measurements of ``path``, from the cache when the file and settings are unchanged."""
    key = hashlib.sha256((_file_digest(path) + json.dumps(processor_settings(dataset), sort_keys=True, default=str))
                         .encode()).hexdigest()
    cache = os.path.join(cache_dir, f"{key}.json") if cache_dir else None
    if cache and os.path.isfile(cache):
        with open(cache) as f:
            return [tuple(row) for row in json.load(f)], True
    rows = measure_file(dataset, path, model_path, trust_remote_code, workers)
    if cache:
        os.makedirs(cache_dir, exist_ok=True)
        with open(cache + ".tmp", "w") as f:
            json.dump(rows, f)
        os.replace(cache + ".tmp", cache)
    return rows, False


def load_dataset(path: str, data_config, tokenizer, processor):
    """The configured dataset class on one file, without verl's filter (the preflight counts instead)."""
    from omegaconf import OmegaConf, open_dict

    from verl.utils.dataset.rl_dataset import get_dataset_class

    config = OmegaConf.create(OmegaConf.to_container(data_config, resolve=True))
    with open_dict(config):
        config.filter_overlong_prompts = False
    return get_dataset_class(config)(data_files=[path], tokenizer=tokenizer, processor=processor, config=config)


def _percentiles(values: Sequence[int]) -> str:
    if not values:
        return "—"
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 {p50:.0f} / p95 {p95:.0f} / max {max(values)}"


def summarize_rows(split: str, path: str, sources: Sequence[str], ids: Sequence[Any], rows: Sequence[tuple],
                   max_prompt_length: int) -> list[Finding]:
    """Findings for one file: per data_source, and for ids repeated within the file."""
    findings = []
    by_source = defaultdict(list)
    first_rejected = {}
    for position, (source, row_id, row) in enumerate(zip(sources, ids, rows, strict=True)):
        by_source[source].append(row)
        if row[3] is not None and source not in first_rejected:
            first_rejected[source] = f"row {position} (extra_info.index {row_id}): {row[3]}"
    name = os.path.basename(path)
    for source, source_rows in sorted(by_source.items()):
        accepted = [r for r in source_rows if r[3] is None]
        overlong = sum(r[0] > max_prompt_length for r in accepted)
        rejected = [r[3] for r in source_rows if r[3] is not None]
        lost = overlong + len(rejected)
        limit = 0 if split == "val" else TRAIN_DROP_LIMIT * len(source_rows)
        status = "ERROR" if lost > limit else "WARN" if lost else "OK"
        detail = (f"{len(source_rows)} rows; {overlong} over max_prompt_length={max_prompt_length} "
                  f"(verl's filter would drop them); {len(rejected)} rejected by the processor"
                  + (f" (first: {first_rejected[source]})" if rejected else "")
                  + f"; prompt tokens {_percentiles([r[0] for r in accepted])}"
                  + f"; image tokens {_percentiles([r[1] for r in accepted if r[2]])}")
        findings.append(Finding(status, f"data {split} {name} [{source}]", detail))
        text_only = sum(r[2] == 0 and r[3] is None for r in source_rows)
        if text_only:
            findings.append(Finding("WARN", f"data {split} {name} [{source}]",
                                    f"{text_only} rows without an image: they train as raw-branch rows (z = 0)"))
    repeated = {key: count for key, count in Counter(zip(sources, ids)).items() if key[1] is not None and count > 1}
    if repeated:
        example = next(iter(repeated))
        findings.append(Finding(
            "ERROR" if split == "val" else "WARN", f"data {split} {name} ids",
            f"{sum(repeated.values())} rows share {len(repeated)} (data_source, extra_info.index) ids, e.g. {example}: "
            + ("evaluation would merge different prompts" if split == "val"
               else "their perturbation seeds fall back to content hashes"),
        ))
    return findings


def _files(value) -> list[str]:
    from omegaconf import ListConfig

    return [value] if isinstance(value, str) else list(value) if isinstance(value, list | ListConfig) else []


def check_data(config, tokenizer, processor, workers: int, cache_dir: str | None) -> list[Finding]:
    findings = []
    model_path = os.path.expanduser(config.actor_rollout_ref.model.path)
    trust = bool(config.actor_rollout_ref.model.get("trust_remote_code", False))
    max_prompt_length = int(config.data.max_prompt_length)
    for split, key in (("train", "train_files"), ("val", "val_files")):
        total = 0
        for path in _files(config.data.get(key)):
            if not os.path.isfile(path):
                findings.append(Finding("ERROR", f"data {split}", f"data.{key}: no such file {path!r}"))
                continue
            try:
                parquet = pq.ParquetFile(path)
                if parquet.metadata.num_rows == 0:
                    findings.append(Finding("ERROR", f"data {split}", f"data.{key}: {path} has no rows"))
                    continue
                prompt_key = config.data.get("prompt_key", "prompt")
                if prompt_key not in parquet.schema_arrow.names:
                    findings.append(Finding("ERROR", f"data {split}", f"data.{key}: {path} has no {prompt_key!r} "
                                            "column (data.prompt_key): no row has a prompt"))
                    continue
                dataset = load_dataset(path, config.data, tokenizer, processor)
            except Exception as error:  # pyarrow's, datasets' and verl's readers share no error type
                findings.append(Finding("ERROR", f"data {split}", f"data.{key}: {path} cannot be read as a dataset "
                                        f"({_first_line(error)})"))
                continue
            rows, cached = measured_rows(dataset, path, workers, cache_dir, model_path, trust)
            frame = dataset.dataframe
            sources = frame["data_source"] if "data_source" in frame.column_names else ["(none)"] * len(frame)
            extras = frame["extra_info"] if "extra_info" in frame.column_names else [None] * len(frame)
            ids = [extra.get("index") if isinstance(extra, dict) else None for extra in extras]
            findings += summarize_rows(split, path, sources, ids, rows, max_prompt_length)
            findings.append(Finding("OK", f"data {split} {os.path.basename(path)}",
                                    f"{len(rows)} rows measured" + (" (cached)" if cached else "")))
            total += sum(r[3] is None and r[0] <= max_prompt_length for r in rows)
        if split == "train" and total < int(config.data.train_batch_size):
            findings.append(Finding("ERROR", "data train", f"{total} usable rows < data.train_batch_size="
                                    f"{config.data.train_batch_size}: an epoch has no full batch"))
    return findings


# ---- reward ----------------------------------------------------------------------------------------

def oracle_response(ground_truth: Any) -> str:
    return f"<think>checking the verifier</think>\\boxed{{{ground_truth}}}"


def check_reward(config, sample: int) -> list[Finding]:
    """Score up to ``sample`` rows per data_source of every file with their own ground truth."""
    import pandas as pd

    from verl.trainer.ppo.reward import get_custom_reward_fn

    try:
        score = get_custom_reward_fn(config)
    except Exception as error:
        return [Finding("ERROR", "reward", f"reward.custom_reward_function cannot be loaded: {error}")]
    if score is None:
        return [Finding("WARN", "reward", "no reward.custom_reward_function: verl's default scorer will be used")]
    findings = []
    for key in ("train_files", "val_files"):
        for path in _files(config.data.get(key)):
            if not os.path.isfile(path):
                continue
            try:
                columns = set(pq.ParquetFile(path).schema_arrow.names)
            except Exception:  # not parquet: the data check names the file
                continue
            missing = sorted({"data_source", "reward_model", "extra_info"} - columns)
            if missing:
                findings.append(Finding("ERROR", "reward", f"data.{key}: {path} has no {', '.join(missing)} "
                                        "column(s): its rows cannot be scored"))
                continue
            frame = pd.read_parquet(path, columns=["data_source", "reward_model", "extra_info"])
            for source, group in frame.groupby("data_source", sort=True):
                counts = Counter()
                for row in group.head(sample).itertuples():
                    try:
                        result = score(row.data_source, oracle_response(row.reward_model["ground_truth"]),
                                       row.reward_model["ground_truth"], row.extra_info)
                    except Exception as error:
                        return [*findings, Finding("ERROR", f"reward [{source}]", f"the reward raised: {error}")]
                    result = result if isinstance(result, dict) else {"score": result, "acc": result}
                    counts.update(rows=1, bad_row=int(bool(result.get("bad_row"))),
                                  internal_error=int(bool(result.get("internal_error"))),
                                  wrong=int(not result.get("acc", result.get("score", 0))))
                status = ("ERROR" if counts["bad_row"] or counts["internal_error"]
                          else "WARN" if counts["wrong"] else "OK")
                findings.append(Finding(status, f"reward {os.path.basename(path)} [{source}]",
                                        f"{counts['rows']} rows scored with their own ground truth: "
                                        f"{counts['wrong']} not accepted, {counts['bad_row']} bad_row, "
                                        f"{counts['internal_error']} internal_error"))
    return findings


# ---- config arithmetic -----------------------------------------------------------------------------

def _free_bytes(path: str) -> int:
    path = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def check_batches(config) -> list[Finding]:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    findings = []
    try:
        validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    except (AssertionError, ValueError) as error:
        findings.append(Finding("ERROR", "verl config", str(error) or type(error).__name__))
    gpus = int(config.trainer.n_gpus_per_node) * int(config.trainer.nnodes)
    n = int(config.actor_rollout_ref.rollout.n)
    rows = int(config.data.train_batch_size) * n
    mini = int(config.actor_rollout_ref.actor.ppo_mini_batch_size) * n
    problems = [f"{name} {value} is not divisible by {gpus} GPUs" for name, value in
                (("train_batch_size × n =", rows), ("ppo_mini_batch_size × n =", mini)) if value % gpus]
    if rows % mini:
        problems.append(f"train_batch_size × n = {rows} is not a multiple of ppo_mini_batch_size × n = {mini}")
    generated = int(config.data.get("gen_batch_size") or config.data.train_batch_size) * n
    agent_workers = int(config.actor_rollout_ref.rollout.agent.num_workers)
    if generated % agent_workers:  # DataProto.chunk asserts equal chunks
        problems.append(f"each generation round's (data.gen_batch_size or train_batch_size) × n = {generated} rows "
                        f"do not split evenly over rollout.agent.num_workers = {agent_workers} agent-loop workers")
    findings.append(Finding("ERROR" if problems else "OK", "batch arithmetic",
                            "; ".join(problems) or f"{rows} responses/step over {gpus} GPUs, mini-batches of {mini}"))
    if config.data.get("val_batch_size") is None:
        findings.append(Finding("ERROR", "data.val_batch_size",
                                "null: verl validates the whole validation set as ONE batch (all its pixel_values in the driver)"))
    return findings


def check_token_budgets(config, processor) -> list[Finding]:
    from recipe.vogue.trainer.dataset import pixel_limits

    data, actor = config.data, config.actor_rollout_ref.actor
    rollout = config.actor_rollout_ref.rollout
    sequence = int(data.max_prompt_length) + int(data.max_response_length)
    budgets = {}
    if actor.get("use_dynamic_bsz"):
        budgets["actor.ppo_max_token_len_per_gpu"] = actor.get("ppo_max_token_len_per_gpu")
    if rollout.get("log_prob_use_dynamic_bsz"):
        budgets["rollout.log_prob_max_token_len_per_gpu"] = rollout.get("log_prob_max_token_len_per_gpu")
        paired = (config.get("vogue") or {}).get("paired_max_token_len_per_gpu")
        if paired is not None:
            budgets["vogue.paired_max_token_len_per_gpu"] = paired
    if rollout.get("max_model_len") is not None:
        budgets["rollout.max_model_len"] = rollout.get("max_model_len")
    short = [f"{name}={value}" for name, value in budgets.items() if value is not None and int(value) < sequence]
    findings = [Finding("ERROR" if short else "OK", "token budgets",
                        (f"{', '.join(short)} < max_prompt_length + max_response_length = {sequence}: "
                         "one sequence does not fit") if short else f"prompt + response = {sequence} tokens fits every budget")]
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None:
        patch = int(getattr(image_processor, "patch_size", 14))
        configured = int(data.get("image_patch_size") or patch)
        findings.append(Finding("ERROR" if configured != patch else "OK", "data.image_patch_size",
                                f"{configured} vs the processor's patch_size {patch}"
                                + (" — verl's overlong filter and qwen_vl_utils would resize with the wrong factor"
                                   if configured != patch else "")))
        factor = patch * int(getattr(image_processor, "merge_size", 2))
        limits = pixel_limits(data)
        if "max_pixels" not in limits:
            findings.append(Finding("WARN", "data.image_max_pixels",
                                    "null: images keep up to 16,384 tokens each (qwen_vl_utils' default cap)"))
        else:
            cap_tokens = limits["max_pixels"] // factor**2
            status = "ERROR" if cap_tokens >= int(data.max_prompt_length) else "OK"
            findings.append(Finding(status, "pixel cap vs prompt budget",
                                    f"an image at data.image_max_pixels={limits['max_pixels']} is {cap_tokens} tokens; "
                                    f"max_prompt_length={data.max_prompt_length}"))
    return findings


def check_checkpoints(config, parameters: int, lora_parameters: int = 0) -> list[Finding]:
    from recipe.vogue.preflight.cost_model import checkpoint_bytes

    trainer = config.trainer
    if int(trainer.get("save_freq", -1)) <= 0:
        return [Finding("OK", "checkpoints", "trainer.save_freq <= 0: no checkpoints")]
    contents = list(config.actor_rollout_ref.actor.checkpoint.get("save_contents") or [])
    lora_only = bool(config.actor_rollout_ref.actor.checkpoint.get("save_lora_only", False))
    size = checkpoint_bytes(parameters, contents, lora_parameters, lora_only)
    keep = trainer.get("max_actor_ckpt_to_keep")
    saves = math.ceil(int(trainer.total_training_steps or 0) / int(trainer.save_freq)) if trainer.get("total_training_steps") else None
    count = keep if keep is not None else saves
    free = _free_bytes(trainer.default_local_dir)
    need = size * (count or 1)
    status = "ERROR" if need > free else "WARN" if keep is None else "OK"
    lora = f" + {lora_parameters / 1e6:.1f}M LoRA{', adapters only' if lora_only else ''}" if lora_parameters else ""
    return [Finding(status, "checkpoints", f"~{_gib(size)} per save ({parameters / 1e9:.2f}B parameters{lora}; {contents}); "
                    f"keeping {keep if keep is not None else 'every one (max_actor_ckpt_to_keep=null)'} → {_gib(need)} "
                    f"vs {_gib(free)} free at {trainer.default_local_dir}")]


def sharded_state_bytes(config, parameters: int, lora_parameters: int = 0) -> int:
    """Bytes per GPU of the actor's FSDP-sharded state during the log-prob stage (``SHARD_BYTES`` over
    nnodes × n_gpus_per_node ranks; the offloaded parts are in host memory): weights for every parameter (the
    frozen base and the adapters with LoRA), gradients and AdamW's moments for the trained ones only."""
    fsdp = config.actor_rollout_ref.actor.get("fsdp_config") or {}
    trained = lora_parameters or parameters
    total = (SHARD_BYTES["params"] * (parameters + lora_parameters) * (not fsdp.get("param_offload", False))
             + SHARD_BYTES["grads"] * trained + SHARD_BYTES["optimizer"] * trained * (not fsdp.get("optimizer_offload", False)))
    ranks = int(config.trainer.nnodes) * int(config.trainer.n_gpus_per_node)
    return total // max(ranks, 1)


def paired_budget_that_fits(left_bytes: float, vocabulary: int, logits_bytes: int, chunk_size: int,
                            response_fraction: float) -> int:
    """The largest token budget whose ``paired_pass_peak_logits_bytes`` is ≤ ``PAIRED_LOGITS_SHARE`` of
    ``left_bytes`` (0 when nothing fits); the peak is affine in the tokens."""
    from recipe.vogue.preflight.cost_model import paired_pass_peak_logits_bytes

    fixed = paired_pass_peak_logits_bytes(0, vocabulary, logits_bytes, chunk_size, response_fraction)
    per_token = (1 + response_fraction) * vocabulary * logits_bytes
    return max(0, int((PAIRED_LOGITS_SHARE * left_bytes - fixed) // per_token))


def check_paired_memory(config, vocabulary: int, parameters: int, gpu_memory_gb: float,
                        lora_parameters: int = 0) -> list[Finding]:
    from recipe.vogue.preflight.cost_model import paired_pass_peak_logits_bytes
    from recipe.vogue.core.uncertainty import FULL_KL_ESTIMATORS

    vogue = config.get("vogue") or {}
    if not vogue.get("enable", True) or vogue.get("kl_estimator", "full") not in FULL_KL_ESTIMATORS:
        return [Finding("OK", "paired pass memory", "no full-vocabulary paired pass in this run")]
    rollout = config.actor_rollout_ref.rollout
    tokens = vogue.get("paired_max_token_len_per_gpu") or rollout.get("log_prob_max_token_len_per_gpu")
    if not rollout.get("log_prob_use_dynamic_bsz"):
        tokens = int(rollout.get("log_prob_micro_batch_size_per_gpu") or 1) * (
            int(config.data.max_prompt_length) + int(config.data.max_response_length))
    dtype = str(config.actor_rollout_ref.actor.fsdp_config.get("mixed_precision", {}).get("param_dtype", "bf16"))
    logits_bytes = 4 if dtype in ("fp32", "float32") else 2
    chunk_size = int(vogue.get("kl_chunk_size", 128))
    response = int(config.data.max_response_length)
    fraction = response / (int(config.data.max_prompt_length) + response)
    peak = paired_pass_peak_logits_bytes(int(tokens), vocabulary, logits_bytes, chunk_size, fraction)
    shards = sharded_state_bytes(config, parameters, lora_parameters)
    left = gpu_memory_gb * 2**30 - shards
    fits = paired_budget_that_fits(left, vocabulary, logits_bytes, chunk_size, fraction)
    ranks = int(config.trainer.nnodes) * int(config.trainer.n_gpus_per_node)
    detail = (f"{tokens} tokens/GPU × V={vocabulary}, raw logits kept at the {fraction:.0%} response positions → "
              f"~{_gib(peak)} of logits; a {gpu_memory_gb:g} GB GPU less ~{_gib(shards)} of weight/gradient/optimizer "
              f"shards ({parameters / 1e9:.2f}B parameters{f' + {lora_parameters / 1e6:.1f}M LoRA' if lora_parameters else ''} "
              f"over {ranks} ranks) leaves ~{_gib(max(left, 0))}: the "
              f"paired budget that fits {PAIRED_LOGITS_SHARE:.0%} of it is {fits} tokens "
              "(vogue.paired_max_token_len_per_gpu, PAIRED_MAX_TOKENS)")
    return [Finding("ERROR" if int(tokens) > fits else "OK", "paired pass memory", detail)]


def _has_netrc_entry(host: str) -> bool:
    import netrc

    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def check_loggers(config) -> list[Finding]:
    backends = _files(config.trainer.get("logger")) or []
    findings = []
    for backend in backends:
        if backend == "wandb" and os.environ.get("WANDB_MODE") in ("offline", "disabled"):
            continue
        if backend in CREDENTIALS:
            variable, host = CREDENTIALS[backend]
            if not os.environ.get(variable) and not (host and _has_netrc_entry(host)):
                findings.append(Finding("ERROR", f"logger {backend}",
                                        f"no {variable} (or ~/.netrc entry): the run would stop at start-up "
                                        "asking for credentials; use trainer.logger=[console,file] or log in first"))
    return findings or [Finding("OK", "loggers", f"{backends}: no credentials needed or found")]


def check_settings(config) -> list[Finding]:
    from recipe.vogue.trainer.vogue_config import validate_run_config

    try:
        vogue = validate_run_config(config)
    except (ValueError, NotImplementedError) as error:
        return [Finding("ERROR", "vogue config", str(error))]
    findings = [Finding("OK", "vogue config", f"enable={vogue.enable}, kl_estimator={vogue.kl_estimator}")]
    estimator, n = str(config.algorithm.adv_estimator), int(config.actor_rollout_ref.rollout.n)
    if estimator in GROUP_ESTIMATORS and n < 2:
        findings.append(Finding("ERROR", "group size", f"algorithm.adv_estimator={estimator} with "
                                f"actor_rollout_ref.rollout.n={n}: verl scores a group of one as mean 0, std 1, so the "
                                "advantage is the raw reward (REINFORCE without a baseline), not group-relative; set "
                                "rollout.n >= 2 (ROLLOUT_N)"))
    actor = config.actor_rollout_ref.actor
    if vogue.enable and config.actor_rollout_ref.model.get("use_remove_padding") and not actor.get(
            "entropy_from_logits_with_chunking"):
        findings.append(Finding("WARN", "entropy precision", "actor.entropy_from_logits_with_chunking=false: verl's raw "
                                "entropy (u_out) is computed in bf16 (±0.05–0.15 nats)"))
    return findings


# A vision-tower module name in both Qwen2.5-VL and Qwen3-VL (transformers 5.9), for the exclusion check.
VISION_MODULE = "model.visual.blocks.0.mlp.linear_fc1"


def lora_rank(config) -> int:
    return int(config.actor_rollout_ref.model.get("lora_rank") or 0)


def _excluded(name: str, exclude_modules) -> bool:
    """peft's rule: a string is a regex matched against the whole module name, a list matches by suffix."""
    if not exclude_modules:
        return False
    if isinstance(exclude_modules, str):
        return re.fullmatch(exclude_modules, name) is not None
    return any(name == entry or name.endswith(f".{entry}") for entry in exclude_modules)


def check_lora(config) -> list[Finding]:
    model = config.actor_rollout_ref.model
    rank = lora_rank(config)
    if int((model.get("lora") or {}).get("rank") or 0) and not rank:
        return [Finding("ERROR", "lora", "actor_rollout_ref.model.lora.rank is Megatron's key: on FSDP verl 0.9.1 builds "
                        "no adapters yet runs as LoRA (no reference model, vLLM in LoRA mode); set "
                        "actor_rollout_ref.model.lora_rank instead (LORA_RANK in the launchers)")]
    if not rank:
        return [Finding("OK", "lora", "full fine-tuning (actor_rollout_ref.model.lora_rank=0)")]
    if not (model.get("lora") or {}).get("merge", False):
        return [Finding("ERROR", "lora", f"lora_rank={rank} with actor_rollout_ref.model.lora.merge=False sends adapters "
                        "to the rollout; this project runs and tests merged-weight sync only (the CPU backend runs the "
                        "same path, docs/cluster.md \"LoRA\"): set actor_rollout_ref.model.lora.merge=True")]
    exclude = model.get("exclude_modules")
    exclude = exclude if isinstance(exclude, str) or exclude is None else list(exclude)
    detail = f"rank {rank}, alpha {model.get('lora_alpha')}, targets {model.get('target_modules')}, merged weights synced"
    if not _excluded(VISION_MODULE, exclude):
        return [Finding("WARN", "lora", f"{detail}; exclude_modules={exclude!r} leaves adapters on the vision tower "
                        f"({VISION_MODULE}); the launchers exclude it with exclude_modules='.*visual.*'")]
    return [Finding("OK", "lora", f"{detail}; vision tower excluded ({exclude!r})")]


# ---- environment -----------------------------------------------------------------------------------

def driver_supports(cuda_version: str, driver_version: str) -> bool:
    """Whether an NVIDIA driver (``"580.65.06"``) runs a torch built for ``cuda_version`` (``"13.0"``)."""
    minimum = MIN_DRIVER.get(int(cuda_version.split(".")[0]))
    driver = tuple(int(part) for part in driver_version.split(".")[:2])
    return minimum is None or driver >= minimum


def sdpa_recommendation(config) -> str:
    """What to do when flash-attn is missing, and what it costs."""
    longest = int(config.data.max_prompt_length) + int(config.data.max_response_length)
    budget = config.actor_rollout_ref.actor.get("ppo_max_token_len_per_gpu")
    return ("without flash-attn, launch with ATTN=sdpa (use_remove_padding=False and attn_implementation=sdpa for the "
            "actor, the reference and the paired pass); memory: micro-batches are then padded, so activations scale with "
            f"rows × the longest sequence of each (up to {longest} tokens) instead of the packed tokens"
            + (f" ({budget} per GPU under use_dynamic_bsz)" if budget else ""))


def check_gpu_stack(config) -> list[Finding]:
    import torch

    if not torch.cuda.is_available():
        return [Finding("SKIPPED", name, "no GPU on this node") for name in ("CUDA driver", "flash-attn", "vLLM")]
    findings = []
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=True).stdout.split()[0]
        ok = driver_supports(torch.version.cuda, driver)
        findings.append(Finding("OK" if ok else "ERROR", "CUDA driver",
                                f"torch {torch.__version__} built for CUDA {torch.version.cuda}; driver {driver}"
                                + ("" if ok else f" < {'.'.join(map(str, MIN_DRIVER[int(torch.version.cuda.split('.')[0])]))}")))
    except (OSError, subprocess.SubprocessError, IndexError) as error:
        findings.append(Finding("ERROR", "CUDA driver", f"nvidia-smi failed: {error}"))
    model = config.actor_rollout_ref.model
    needs_flash = bool(model.get("use_remove_padding"))
    if not needs_flash:
        implementation = (model.get("override_config") or {}).get("attn_implementation", "flash_attention_2")
        findings.append(Finding("OK", "flash-attn", f"not needed: use_remove_padding=False, attn_implementation={implementation}"))
    for module, check in ((("flash_attn", "flash-attn"),) if needs_flash else ()) + (("vllm", "vLLM"),):
        try:
            imported = __import__(module)
            if module == "flash_attn":
                __import__("flash_attn_2_cuda")  # the compiled extension: fails when built for another torch
            findings.append(Finding("OK", check, f"{module} {getattr(imported, '__version__', '?')}"))
        except Exception as error:
            advice = f"; {sdpa_recommendation(config)}" if module == "flash_attn" else ""
            findings.append(Finding("ERROR", check, f"import {module} failed: {error}{advice}"))
    return findings


def node_report(paths: dict[str, list[str]], marker: str | None) -> dict:
    """What one node sees (runs as a Ray task on every node): importable code, existing files, the marker."""
    import importlib
    import socket

    report = {"host": socket.gethostname(), "missing": []}
    for module in paths.get("modules", []):
        try:
            importlib.import_module(module)
        except Exception as error:
            report["missing"].append(f"import {module}: {error}")
    report["missing"] += [f"file {path}" for path in paths.get("files", []) if not os.path.exists(path)]
    report["shared_checkpoints"] = marker is None or os.path.exists(marker)
    return report


def _gpu_modules(config) -> list[str]:
    """The compiled GPU packages the run imports on every node: flash-attn (with its CUDA extension, which fails
    when built for another torch) for the padding-free path, and the rollout engine."""
    modules = []
    if config.actor_rollout_ref.model.get("use_remove_padding"):
        modules += ["flash_attn", "flash_attn_2_cuda"]
    if config.actor_rollout_ref.rollout.get("name") in ("vllm", "sglang"):
        modules.append(config.actor_rollout_ref.rollout.name)
    return modules


def _cluster_paths(config) -> dict[str, list[str]]:
    modules = ["recipe.vogue.trainer.worker", *_gpu_modules(config)]
    files = [*_files(config.data.get("train_files")), *_files(config.data.get("val_files"))]
    reward = (config.reward.get("custom_reward_function") or {}).get("path")
    if reward and reward.startswith("pkg://"):
        modules.append(reward[len("pkg://"):].replace("/", "."))
    elif reward:
        files.append(reward)
    model = os.path.expanduser(config.actor_rollout_ref.model.path)
    if os.path.isabs(model):
        files.append(model)
    return {"modules": modules, "files": files}


def check_nodes(config) -> list[Finding]:
    nodes_wanted = int(config.trainer.nnodes)
    if nodes_wanted <= 1:
        return [Finding("OK", "nodes", "single node")]
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), ignore_reinit_error=True, log_to_driver=False)
    except Exception as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return [Finding("WARN", "nodes", f"trainer.nnodes={nodes_wanted}, but no Ray cluster is reachable here "
                                         f"({reason}): the per-node checks (code, flash-attn, vLLM, data, model, "
                                         "shared checkpoints) did not run; rerun the preflight on the head node "
                                         "after `ray start`")]
    alive = [node for node in ray.nodes() if node.get("Alive")]
    findings = []
    if len(alive) < nodes_wanted:
        findings.append(Finding("ERROR", "nodes", f"{len(alive)} Ray nodes alive, trainer.nnodes={nodes_wanted}"))
    marker = os.path.join(os.path.abspath(os.path.expanduser(config.trainer.default_local_dir)), ".preflight_marker")
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w") as f:
        f.write("vogue preflight\n")
    task = ray.remote(num_cpus=0)(node_report)
    paths = _cluster_paths(config)
    reports = ray.get([task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                       .remote(paths, marker) for node in alive])
    os.remove(marker)
    for report in reports:
        problems = list(report["missing"])
        if not report["shared_checkpoints"]:
            problems.append(f"trainer.default_local_dir is not shared (no {marker}): checkpoint shards would be split "
                            "over the nodes' own disks and could not be resumed")
        findings.append(Finding("ERROR" if problems else "OK", f"node {report['host']}",
                                "; ".join(problems) or "code, reward, data, model and checkpoint directory in place"))
    return findings


# ---- entry -----------------------------------------------------------------------------------------

def run(overrides: Sequence[str], gpu_memory_gb: float = 80.0, estimate_for: str | None = None, workers: int = 8,
        cache_dir: str | None = None, reward_sample: int = 20) -> list[Finding]:
    from recipe.vogue.preflight.cost_model import lora_parameter_count, parameter_count, target_model_config, vocabulary_size
    from verl.utils import hf_processor, hf_tokenizer

    try:
        config = compose(overrides)
    except Exception as error:  # hydra's parse, override and composition errors share no base class
        return [Finding("ERROR", "config", " ".join(str(error).split()))]
    invalid = check_numbers(config)
    if invalid:
        return invalid
    findings = check_settings(config) + check_lora(config) + check_batches(config) + check_loggers(config)
    model_path = os.path.expanduser(config.actor_rollout_ref.model.path)
    trust = config.actor_rollout_ref.model.get("trust_remote_code", False)
    if model_path.startswith((os.sep, ".")) and not os.path.isdir(model_path):  # a local path, not a hub id
        return [*findings, Finding("ERROR", "model", f"actor_rollout_ref.model.path={model_path}: no such directory")]
    try:
        tokenizer = hf_tokenizer(model_path, trust_remote_code=trust)
        processor = hf_processor(model_path, trust_remote_code=trust)
    except Exception as error:
        return [*findings, Finding("ERROR", "model", f"cannot load the tokenizer/processor of {model_path!r}: {error}")]
    target = target_model_config(estimate_for or model_path)
    findings += check_token_budgets(config, processor)
    parameters = parameter_count(target)
    model = config.actor_rollout_ref.model
    lora = lora_parameter_count(target, lora_rank(config), model.get("target_modules") or "all-linear",
                                model.get("exclude_modules")) if lora_rank(config) else 0
    findings += check_checkpoints(config, parameters, lora)
    findings += check_paired_memory(config, vocabulary_size(target), parameters, gpu_memory_gb, lora)
    findings += check_data(config, tokenizer, processor, workers, cache_dir)
    findings += check_reward(config, reward_sample)
    findings += check_gpu_stack(config) + check_nodes(config)
    return findings


def format_table(findings: Sequence[Finding]) -> str:
    width = max((len(f.check) for f in findings), default=5)
    lines = [f"{'status':<8} {'check':<{width}}  detail", f"{'-' * 8} {'-' * width}  {'-' * 6}"]
    lines += [f"{f.status:<8} {f.check:<{width}}  {f.detail}" for f in findings]
    counts = Counter(f.status for f in findings)
    lines.append(", ".join(f"{counts[s]} {s}" for s in STATUSES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-memory-gb", type=float, default=80.0)
    parser.add_argument("--estimate-for", help="target model config for size estimates: a name under "
                        "recipe/vogue/config/models (qwen2_5_vl_3b, qwen2_5_vl_7b, qwen3_vl_4b, qwen3_vl_8b) or a "
                        "path; default the model path")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/vogue_preflight"))
    parser.add_argument("--reward-sample", type=int, default=20, help="rows per data_source scored by the reward")
    args, overrides = parser.parse_known_args(argv)
    unknown = [o for o in overrides if o.startswith("--")]
    if unknown:
        parser.error(f"unknown options {unknown}")
    findings = run(overrides, args.gpu_memory_gb, args.estimate_for, args.workers, args.cache_dir or None,
                   args.reward_sample)
    print(format_table(findings))
    return 1 if any(f.status == "ERROR" for f in findings) else 0

