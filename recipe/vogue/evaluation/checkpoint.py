"""A verl FSDP checkpoint as a Hugging Face model folder: verl's own merger (``python -m verl.model_merger merge
--backend fsdp``, bf16 weights, config, processor, tokenizer and chat template from the checkpoint's
``huggingface/``), then a LoRA checkpoint's adapters folded into the weights (``lora_merge``). Used by
``python -m recipe.vogue.evaluate`` and ``python -m recipe.vogue.export``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from recipe.vogue.evaluation.lora_merge import has_lora_adapter, merge_lora_adapter

__all__ = ["CheckpointError", "Runner", "STEP", "actor_directory", "merge_checkpoint", "run_logged"]

STEP = re.compile(r"global_step_(\d+)")
Runner = Callable[[list, dict, Path], None]


class CheckpointError(RuntimeError):
    """A step of turning a checkpoint into a model folder failed; the message says which and why."""


def run_logged(command: list[str], env: dict, log_path: Path) -> None:
    """Run ``command`` with its output in ``log_path``; CheckpointError with the log's end on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        returncode = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if returncode != 0:
        output = log_path.read_text(errors="replace")
        last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "no output")
        raise CheckpointError(f"{' '.join(command[:3])} exited with {returncode}: {last}\nend of {log_path}:\n{output[-3000:]}")


def actor_directory(path: Path) -> Path | None:
    """``global_step_N/actor`` (given it or ``global_step_N``) when it holds FSDP shards, else None."""
    directory = path / "actor" if (path / "actor").is_dir() else path
    return directory if any(directory.glob("model_world_size_*_rank_*.pt")) else None


def merge_checkpoint(actor: Path, target: Path, env: dict, log_path: Path, runner: Runner = run_logged) -> bool:
    """Write ``actor``'s model to ``target`` (which must not exist), through ``target``.partial so that a failure
    leaves no half-written folder; returns whether LoRA adapters were merged."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        runner([sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp", "--local_dir", str(actor),
                "--target_dir", str(partial)], env, log_path)
        lora = has_lora_adapter(partial)  # verl's merger writes the base weights and the adapters beside them
        if lora:
            print(f"[checkpoint] merging the LoRA adapters of {actor} into the weights", flush=True)
            merge_lora_adapter(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(target)
    return lora
