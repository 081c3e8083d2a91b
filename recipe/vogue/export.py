"""``python -m recipe.vogue.export CHECKPOINT --out DIR``: a verl FSDP checkpoint as a Hugging Face folder for the
community's evaluation toolkits (lmms-eval, VLMEvalKit; docs/evaluation.md).

CHECKPOINT is ``global_step_N`` or ``global_step_N/actor`` (``model_world_size_*_rank_*.pt`` shards). DIR, which
must not exist, gets verl's merger output (bf16 weights, config, processor, tokenizer, chat template) with a
LoRA checkpoint's adapters merged into the weights (``recipe.vogue.evaluation.checkpoint``); it loads with
``AutoModelForImageTextToText.from_pretrained(DIR)`` and ``AutoProcessor.from_pretrained(DIR)``. A failure
leaves no DIR behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from recipe.vogue.evaluation.checkpoint import STEP, CheckpointError, actor_directory, merge_checkpoint
from recipe.vogue.evaluation.lora_merge import holds_peft_keys


def check_loadable(folder: Path) -> None:
    """The processor (with a chat template) and the config load, and the weights carry model names, not peft's."""
    from transformers import AutoConfig, AutoProcessor

    AutoConfig.from_pretrained(folder)
    if AutoProcessor.from_pretrained(folder).chat_template is None:
        raise CheckpointError(f"{folder}: the processor has no chat template (the checkpoint's huggingface/ lacks one)")
    if holds_peft_keys(folder):
        raise CheckpointError(f"{folder}: the weights still carry peft's layer names")


def export(checkpoint: str, out: Path, env: dict | None = None) -> bool:
    """Write ``checkpoint``'s model to ``out``; returns whether LoRA adapters were merged."""
    actor = actor_directory(Path(checkpoint).expanduser())
    if actor is None:
        hint = " (it is already a Hugging Face model folder)" if (Path(checkpoint) / "config.json").is_file() else ""
        raise CheckpointError(f"{checkpoint}: not a verl FSDP checkpoint (global_step_N[/actor] with "
                              f"model_world_size_*_rank_*.pt){hint}")
    if out.exists():
        raise CheckpointError(f"--out {out} exists; export writes a new folder and overwrites nothing")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as logs:
        lora = merge_checkpoint(actor, out, dict(os.environ if env is None else env), Path(logs) / "merge.log")
    try:
        check_loadable(out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return lora


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a verl FSDP checkpoint: global_step_N or global_step_N/actor")
    parser.add_argument("--out", required=True, type=Path, help="the new Hugging Face folder (must not exist)")
    args = parser.parse_args(argv)
    try:
        lora = export(args.checkpoint, args.out)
    except (CheckpointError, OSError) as error:
        print(f"export: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    step = STEP.search(args.checkpoint)
    print(f"[export] {args.checkpoint}{f' (step {step.group(1)})' if step else ''} → {args.out}"
          f"{' (LoRA adapters merged)' if lora else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
