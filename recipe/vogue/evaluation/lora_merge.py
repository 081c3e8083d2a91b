"""A LoRA checkpoint made loadable: the adapters merged into the weights of the folder verl's merger writes.

verl 0.9.1's ``python -m verl.model_merger merge`` on a LoRA run writes the BASE weights (adapters stripped)
as the Hugging Face model and the adapters beside them in ``lora_adapter/`` (adapter_config.json,
adapter_model.safetensors): loading the folder as a model silently scores the base model. The checkpoint's
``huggingface/`` folder is no better: its keys are peft's (``base_model.model.…base_layer.weight``), which
``from_pretrained`` does not recognise and replaces with random weights. ``merge_lora_adapter`` folds the
adapters into the weights with peft's own ``merge_and_unload`` (W + (alpha / r)·B·A on every adapted layer).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["ADAPTER_DIR", "has_lora_adapter", "holds_peft_keys", "merge_lora_adapter"]

ADAPTER_DIR = "lora_adapter"


def has_lora_adapter(model_dir: str | os.PathLike) -> bool:
    return (Path(model_dir) / ADAPTER_DIR / "adapter_config.json").is_file()


def holds_peft_keys(model_dir: str | os.PathLike) -> bool:
    """Whether a model folder's safetensors name peft's wrapped layers (a LoRA run's ``huggingface/`` dump)."""
    from safetensors import safe_open

    for path in Path(model_dir).glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as handle:
            if any(".base_layer." in key or ".lora_A." in key for key in handle.keys()):
                return True
    return False


def merge_lora_adapter(model_dir: str | os.PathLike) -> int:
    """Replace ``model_dir``'s weights by base + adapters and remove ``lora_adapter/``; returns the number of
    adapted layers in the adapter file. The weights keep the dtype they were saved in. Files other than the
    weights (config, processor, tokenizer, chat template) are left as they are. (verl's adapter_config lists
    target module names without its exclusions, so peft may also wrap vision-tower layers of the same names;
    those have no weights in the file, keep peft's zero-initialised B, and merge as W + 0.)"""
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForImageTextToText

    model_dir = Path(model_dir)
    with safe_open(str(model_dir / ADAPTER_DIR / "adapter_model.safetensors"), framework="pt") as handle:
        layers = sum(1 for key in handle.keys() if ".lora_A." in key)
    base = AutoModelForImageTextToText.from_pretrained(model_dir, dtype="auto")
    adapted = PeftModel.from_pretrained(base, model_dir / ADAPTER_DIR)
    with torch.no_grad():
        merged = adapted.merge_and_unload()
    staging = model_dir.with_name(model_dir.name + ".merging")
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(staging)
    for stale in [*model_dir.glob("*.safetensors"), *model_dir.glob("*.safetensors.index.json")]:
        stale.unlink()
    for weights in [*staging.glob("*.safetensors"), *staging.glob("*.safetensors.index.json")]:
        os.replace(weights, model_dir / weights.name)
    shutil.rmtree(staging)
    shutil.rmtree(model_dir / ADAPTER_DIR)
    return layers
