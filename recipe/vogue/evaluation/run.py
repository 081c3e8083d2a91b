"""``python -m recipe.vogue.evaluate``: score a checkpoint on prepared benchmark files with verl's own
validation (METHOD.md §8), in shards that a rerun skips once finished.

    python -m recipe.vogue.evaluate --model PATH --out DIR --data FILE [FILE ...] [options] [-- hydra overrides]

PATH is a Hugging Face model directory (or hub id), or a verl FSDP checkpoint (``global_step_N/actor``
or ``global_step_N``), merged once into DIR/model with verl's own merger
(``python -m verl.model_merger merge --backend fsdp``; a LoRA checkpoint's adapters are then merged into
the weights, ``lora_merge``); its N becomes the dumps' ``step``. FILE are
``python -m data_prep`` outputs; a row is named by (data_source, extra_info.index), which must be present
and unique over all files.

Passes: ``greedy`` (val_kwargs temperature 0, n 1: pass@1) and ``sampled`` (n 16, T 0.6, top-p 0.95 by
default: pass@k, k = 1, 2, 4, 8, 16). Each file is cut into shards of --shard-size rows
(DIR/shards/<stem>-<i>.parquet). Each (pass, shard) is one val-only run of
``python -m recipe.vogue.main_vogue vogue.enable=false trainer.val_only=true trainer.val_before_train=true``
on that shard (training set: the shard repeated to twice ``data.train_batch_size`` rows, which verl
insists on building; nothing is trained), output in DIR/logs/<pass>/<shard>.log. Its validation dump
(``trainer.validation_data_dir``, scored by vogue_reward) becomes DIR/generations/<pass>/<shard>.jsonl in
``recipe.vogue.evaluation.metrics.Generation``'s schema: ``decoding``, and the row's extra_info joined from the
shard by (data_source, row_id). A (pass, shard) whose file exists is skipped, so rerunning the command
resumes; DIR/settings.json makes a rerun with other settings an error. Rows verl drops (prompts over
``data.max_prompt_length`` under ``data.filter_overlong_prompts``) get no response and are counted.

At the end DIR/report/ holds ``recipe.vogue.evaluation.report``'s tables and plots for DIR; compare runs with
``python -m recipe.vogue.report A=DIR_A B=DIR_B --out OUT``. Hydra overrides after ``--`` go to every
verl run (GPU settings: examples/eval.sh); ``--cpu`` runs on the CPU backend (``+cpu=tiny``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.io import write_table_atomic
from recipe.vogue.evaluation.checkpoint import (STEP, CheckpointError, Runner, actor_directory, merge_checkpoint,
                                                run_logged)
from recipe.vogue.evaluation.lora_merge import holds_peft_keys
from recipe.vogue.evaluation.metrics import SAMPLED, Generation
from recipe.vogue.evaluation.report import load_run, write_report
from vogue_reward.score import row_id

__all__ = ["EvaluationError", "Pass", "Shard", "plan_shards", "resolve_model", "identities", "convert_dump", "evaluate", "main"]

REPO_ROOT = Path(__file__).resolve().parents[3]
REWARD_FILE = REPO_ROOT / "vogue_reward" / "verl_entry.py"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
CPU_PRESET = ("+cpu=tiny",)
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")



class EvaluationError(RuntimeError):
    """An evaluation that cannot go on; the message names the file or setting."""


@dataclasses.dataclass(frozen=True)
class Pass:
    """One decoding pass: verl's ``actor_rollout_ref.rollout.val_kwargs``."""

    name: str
    n: int
    temperature: float
    top_p: float

    def overrides(self) -> list[str]:
        prefix = "actor_rollout_ref.rollout.val_kwargs"
        return [f"{prefix}.n={self.n}", f"{prefix}.temperature={self.temperature}", f"{prefix}.top_p={self.top_p}",
                f"{prefix}.do_sample={self.name == SAMPLED}"]


@dataclasses.dataclass(frozen=True)
class Shard:
    """Rows [start, start + rows) of a benchmark file."""

    name: str
    source: str
    start: int
    rows: int


def plan_shards(files: Sequence[str], shard_size: int) -> list[Shard]:
    """The shards of every file, in order: ``<file stem>-<i>`` of ``shard_size`` rows (the last one fewer)."""
    if shard_size < 1:
        raise EvaluationError(f"--shard-size must be >= 1, got {shard_size}")
    stems = [Path(path).stem for path in files]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise EvaluationError(f"--data: two files are named {repeated[0]!r}; shards are named after the file, rename one")
    shards = []
    for path, stem in zip(files, stems):
        total = pq.ParquetFile(path).metadata.num_rows
        if total == 0:
            raise EvaluationError(f"{path}: no rows")
        shards += [Shard(f"{stem}-{i:04d}", str(path), start, min(shard_size, total - start))
                   for i, start in enumerate(range(0, total, shard_size))]
    return shards


def check_row_ids(files: Sequence[str]) -> None:
    """Every row has an extra_info.index and (data_source, row id) is unique over ``files``."""
    seen: dict[tuple[str, str], str] = {}
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as error:
            raise EvaluationError(f"--data {path}: not a readable parquet file ({error})") from None
        if "data_source" not in schema.names or "extra_info" not in schema.names:
            raise EvaluationError(f"{path}: no data_source/extra_info column; prepare it with python -m data_prep")
        for number, row in enumerate(identities(path)):
            identity = (str(row["data_source"]), row_id(row["extra_info"]))
            if not identity[1]:
                raise EvaluationError(f"{path} row {number}: no extra_info.index; rows are named by "
                                      "(data_source, extra_info.index) (python -m data_prep writes both)")
            if identity in seen:
                raise EvaluationError(f"{path} row {number}: data_source {identity[0]!r} index {identity[1]} "
                                      f"also appears in {seen[identity]}; evaluate such files separately (another --out)")
            seen[identity] = f"{path} row {number}"


def _run_logged(command: list[str], env: dict, log_path: Path) -> None:
    """``checkpoint.run_logged``, failing with an EvaluationError."""
    try:
        run_logged(command, env, log_path)
    except CheckpointError as error:
        raise EvaluationError(str(error)) from None


def resolve_model(path: str, out: Path, env: dict, runner: Runner = _run_logged) -> tuple[str, int | None]:
    """(model for ``actor_rollout_ref.model.path``, checkpoint step or None); merges an FSDP checkpoint
    into ``out``/model once (a finished merge is reused; ``checkpoint.merge_checkpoint``)."""
    match = STEP.search(path)
    step = int(match.group(1)) if match else None
    directory = Path(path).expanduser()
    if not directory.exists():
        if _HUB_ID.fullmatch(path):
            print(f"[eval] --model {path} is not a local directory: verl loads it as a hub id", flush=True)
            return path, step
        raise EvaluationError(f"--model {path}: no such directory")
    if (directory / "actor").is_dir():
        directory = directory / "actor"
    if (directory / "config.json").is_file():
        if holds_peft_keys(directory):
            raise EvaluationError(f"--model {path}: a LoRA run's Hugging Face dump (peft's layer names, which "
                                  "from_pretrained would replace by random weights); pass its checkpoint, global_step_N")
        return str(directory.resolve()), step
    actor = actor_directory(directory)
    if actor is None:
        raise EvaluationError(f"--model {path}: neither a Hugging Face model directory (config.json) nor a verl FSDP "
                              "checkpoint (global_step_N/actor with model_world_size_*_rank_*.pt)")
    merged = out / "model"
    if not (merged / "config.json").is_file():
        print(f"[eval] merging {actor} into {merged} (verl.model_merger)", flush=True)
        merge_checkpoint(actor, merged, env, out / "logs" / "merge.log", runner)
    return str(merged), step


def identities(path: Path | str) -> list[dict]:
    """The data_source and extra_info of every row of a parquet file (what ``convert_dump`` joins on)."""
    return pq.read_table(path, columns=["data_source", "extra_info"]).to_pylist()


def convert_dump(lines: Sequence[dict], shard_rows: Sequence[dict], decoding: str, step: int | None) -> list[dict]:
    """verl's validation-dump entries → Generation dump lines, extra_info joined from the shard's rows."""
    infos = {(str(row["data_source"]), row_id(row["extra_info"])): row["extra_info"] or {} for row in shard_rows}
    converted = []
    for number, entry in enumerate(lines):
        if "row_source" not in entry or "row_id" not in entry:
            raise EvaluationError(f"dump line {number} has no row_source/row_id: score with vogue_reward "
                                  f"(reward.custom_reward_function.path={REWARD_FILE})")
        identity = (entry["row_source"], entry["row_id"])
        if identity not in infos:
            raise EvaluationError(f"dump line {number}: row {identity} is not in the shard")
        generation = Generation.from_dump({**entry, "data_source": identity[0], "decoding": decoding, "step": step,
                                           "extra_info": infos[identity]})
        converted.append(generation.to_dump())
    return converted


def _write_lines(path: Path, entries: Sequence[dict]) -> None:
    """jsonl written atomically (the temporary name does not end in .jsonl, so reports never read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    os.replace(partial, path)


def _read_lines(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _quoted(path: Path | str) -> str:
    text = str(path)
    if "'" in text or "\\" in text:
        raise EvaluationError(f"{text}: paths with quotes or backslashes cannot be passed to hydra")
    return f"'{text}'"


def train_batch_size(overrides: Sequence[str]) -> int:
    """``data.train_batch_size`` of the composed main_vogue config (defaults + ``overrides``)."""
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            return int(compose(config_name="vogue_trainer", overrides=list(overrides)).data.train_batch_size)
    except Exception as error:  # hydra's parse and composition errors share no base class but Exception
        raise EvaluationError(f"hydra overrides {list(overrides)}: {error}") from None


def shard_command(shard_file: Path, copies: int, model: str, decoding: Pass, scratch: Path, overrides: Sequence[str],
                  val_batch_size: int = 64) -> list[str]:
    """The val-only verl run of one shard: ``val_batch_size`` prompts per validation batch (verl's default
    null makes the whole shard one batch: shard rows × n responses with their images in one process)."""
    return [
        sys.executable, "-m", "recipe.vogue.main_vogue",
        "vogue.enable=false", "trainer.val_only=true", "trainer.val_before_train=true", "trainer.resume_mode=disable",
        f"data.train_files=[{','.join([_quoted(shard_file)] * copies)}]", f"data.val_files={_quoted(shard_file)}",
        f"actor_rollout_ref.model.path={_quoted(model)}", f"data.val_batch_size={val_batch_size}",
        f"reward.custom_reward_function.path={_quoted(REWARD_FILE)}", "reward.custom_reward_function.name=compute_score",
        *decoding.overrides(),
        f"trainer.validation_data_dir={_quoted(scratch / 'dump')}", f"trainer.default_local_dir={_quoted(scratch / 'checkpoints')}",
        "trainer.logger=[console]", "trainer.experiment_name=evaluate",
        *overrides,
    ]


def _check_settings(path: Path, settings: dict) -> dict:
    """Refuse to resume with other settings than those in ``path``; a pass may be added later. Returns the
    settings to keep (written by ``_write_settings`` once the inputs are validated)."""
    if path.exists():
        earlier = json.loads(path.read_text())
        differing = sorted(key for key in settings if key != "passes" and earlier.get(key) != settings[key])
        differing += [f"passes.{name}" for name, value in settings["passes"].items()
                      if earlier.get("passes", {}).get(name, value) != value]
        if differing:
            raise EvaluationError(f"{path} was written with other settings ({', '.join(differing)}): "
                                  "rerun with the same ones, or choose another --out")
        settings = {**settings, "passes": {**earlier.get("passes", {}), **settings["passes"]}}
    return settings


def _write_settings(path: Path, settings: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1) + "\n")


def _shard_line(decoding: Pass, position: str, shard: Shard, generations: Sequence[dict], seconds: float) -> str:
    answered = {(g["data_source"], g["row_id"]) for g in generations}
    accuracy = sum(g["acc"] for g in generations) / len(generations) if generations else math.nan
    missing = shard.rows - len(answered)
    note = f", {missing} rows without a response (dropped by verl: data.filter_overlong_prompts)" if missing else ""
    return (f"[eval] {decoding.name} {position} {shard.name}: {shard.rows} rows, {len(generations)} responses, "
            f"acc {accuracy:.3f}, {seconds:.0f} s{note}")


def write_shards(shards: Sequence[Shard], directory: Path) -> None:
    """DIR/shards/<name>.parquet for every shard not written yet (each benchmark file read once)."""
    missing = [shard for shard in shards if not (directory / f"{shard.name}.parquet").exists()]
    for source in dict.fromkeys(shard.source for shard in missing):
        table = pq.read_table(source)
        for shard in (shard for shard in missing if shard.source == source):
            write_table_atomic(table.slice(shard.start, shard.rows), str(directory / f"{shard.name}.parquet"))


def run_shard(shard_file: Path, decoding: Pass, model: str, step: int | None, copies: int, overrides: Sequence[str],
              val_batch_size: int, env: dict, log_path: Path, runner: Runner) -> list[dict]:
    """One val-only verl run on ``shard_file``; its dump as Generation lines."""
    with tempfile.TemporaryDirectory(prefix="vogue-eval-") as scratch:
        runner(shard_command(shard_file, copies, model, decoding, Path(scratch), overrides, val_batch_size), env, log_path)
        dumps = sorted((Path(scratch) / "dump").glob("*.jsonl"))
        if not dumps:
            raise EvaluationError(f"verl wrote no validation dump; see {log_path}")
        lines = [entry for dump in dumps for entry in _read_lines(dump)]
    return convert_dump(lines, identities(shard_file), decoding.name, step)


def evaluate(model: str, files: Sequence[str], out: Path, passes: Sequence[Pass], shard_size: int = 256,
             overrides: Sequence[str] = (), cpu_env: dict | None = None, runner: Runner = _run_logged,
             val_batch_size: int = 64) -> Path:
    """Run every unfinished (pass, shard) and write the report; returns the path of report.md. ``cpu_env`` (the
    CPU backend's environment, ``recipe.vogue.cpu.tiny_run.cpu_environment()``) selects the CPU backend."""
    if val_batch_size < 1:
        raise EvaluationError(f"--val-batch-size must be >= 1, got {val_batch_size}")
    files = [str(Path(path).resolve()) for path in files]
    for path in files:
        if not os.path.isfile(path):
            raise EvaluationError(f"--data {path}: no such file")
    out = out.resolve()
    overrides = [*(CPU_PRESET if cpu_env is not None else ()), *overrides]
    settings = {"model": model, "data": [[path, os.path.getsize(path)] for path in files], "shard_size": shard_size,
                "overrides": overrides, "passes": {p.name: dataclasses.asdict(p) for p in passes}}
    check_row_ids(files)
    shards = plan_shards(files, shard_size)
    settings = _check_settings(out / "settings.json", settings)
    env = dict(os.environ) if cpu_env is None else dict(cpu_env)
    batch = train_batch_size(overrides)
    model_path, step = resolve_model(model, out, env, runner)
    _write_settings(out / "settings.json", settings)  # only once the inputs are known good
    write_shards(shards, out / "shards")
    started = time.time()
    for decoding in passes:
        for position, shard in enumerate(shards, 1):
            target = out / "generations" / decoding.name / f"{shard.name}.jsonl"
            where = f"{position}/{len(shards)}"
            if target.exists():
                print(f"[eval] {decoding.name} {where} {shard.name}: done earlier, skipped", flush=True)
                continue
            begun = time.time()
            generations = run_shard(out / "shards" / f"{shard.name}.parquet", decoding, model_path, step,
                                    max(1, math.ceil(2 * batch / shard.rows)), overrides, val_batch_size, env,
                                    out / "logs" / decoding.name / f"{shard.name}.log", runner)
            _write_lines(target, generations)
            print(_shard_line(decoding, where, shard, generations, time.time() - begun), flush=True)
    run = load_run(out.name, out)
    for decoding in passes:
        answered = len({g.prompt for g in run.generations if g.decoding == decoding.name})
        print(f"[eval] {decoding.name}: {answered}/{sum(s.rows for s in shards)} rows answered", flush=True)
    print(f"[eval] all shards done ({time.time() - started:.0f} s in this invocation)", flush=True)
    write_report([run], out / "report")
    return out / "report" / "report.md"
