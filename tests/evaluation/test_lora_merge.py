"""recipe/vogue/evaluation/lora_merge.py: a folder laid out as verl's merger writes a LoRA checkpoint (base
weights + lora_adapter/) becomes a model equal to base + (alpha/r)·B·A, computed here by hand; evaluate merges
it, and refuses a LoRA run's peft-keyed huggingface/ dump."""

from pathlib import Path

import pytest
import torch

from recipe.vogue.cpu import tiny
from recipe.vogue.evaluation import lora_merge
from recipe.vogue.evaluation import run as ev

RANK, ALPHA = 4, 8


@pytest.fixture
def lora_folder(tmp_path):
    """(folder as verl's merger writes it, the hand-merged state dict, the adapted model for a forward)."""
    from peft import LoraConfig, get_peft_model

    tokenizer = tiny.build_tokenizer()
    base = tiny.build_model(tokenizer, seed=1)
    folder = tmp_path / "merged"
    base.save_pretrained(folder)
    tiny.build_processor(tokenizer).save_pretrained(folder)
    adapted = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules="all-linear",
                                              exclude_modules=".*visual.*", task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(0)
    expected = {name: p.detach().clone() for name, p in tiny.build_model(tokenizer, seed=1).state_dict().items()}
    with torch.no_grad():
        for name, module in adapted.named_modules():
            if hasattr(module, "lora_B") and "default" in module.lora_B:
                module.lora_B["default"].weight.copy_(torch.randn(module.lora_B["default"].weight.shape, generator=generator))
                key = name.removeprefix("base_model.model.") + ".weight"
                delta = module.lora_B["default"].weight @ module.lora_A["default"].weight
                expected[key] = expected[key] + (ALPHA / RANK) * delta
    adapted.save_pretrained(folder / lora_merge.ADAPTER_DIR)
    return folder, expected


def test_the_adapters_are_merged_into_the_weights(lora_folder):
    from transformers import AutoModelForImageTextToText

    folder, expected = lora_folder
    assert lora_merge.has_lora_adapter(folder)
    assert lora_merge.merge_lora_adapter(folder) == 14  # 2 decoder layers × 7 projections
    assert not lora_merge.has_lora_adapter(folder) and not (folder.with_name("merged.merging")).exists()
    merged = AutoModelForImageTextToText.from_pretrained(folder).state_dict()
    assert merged.keys() == expected.keys()
    changed = [key for key in expected if not torch.equal(expected[key], tiny.build_model(tiny.build_tokenizer(), seed=1).state_dict()[key])]
    assert len(changed) == 14 and not any("visual" in key for key in changed)
    for key in expected:
        torch.testing.assert_close(merged[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)


def test_evaluate_merges_a_lora_checkpoint(lora_folder, tmp_path):
    from transformers import AutoModelForImageTextToText

    folder, expected = lora_folder
    checkpoint = tmp_path / "ckpt/global_step_3/actor"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model_world_size_1_rank_0.pt").write_bytes(b"")

    def merger(command, env, log_path):  # what verl's merger writes for a LoRA checkpoint
        import shutil

        shutil.copytree(folder, command[command.index("--target_dir") + 1])

    out = tmp_path / "out"
    assert ev.resolve_model(str(checkpoint.parent), out, {}, merger) == (str(out / "model"), 3)
    merged = AutoModelForImageTextToText.from_pretrained(out / "model").state_dict()
    key = "model.language_model.layers.0.self_attn.q_proj.weight"
    torch.testing.assert_close(merged[key], expected[key], rtol=1e-5, atol=1e-6)


def test_a_peft_keyed_huggingface_dump_is_refused(tmp_path):
    from safetensors.torch import save_file

    dump = tmp_path / "ckpt/global_step_2/actor/huggingface"
    dump.mkdir(parents=True)
    (dump / "config.json").write_text("{}")
    save_file({"base_model.model.model.language_model.layers.0.self_attn.q_proj.base_layer.weight": torch.zeros(2, 2)},
              str(dump / "model.safetensors"))
    assert lora_merge.holds_peft_keys(dump)
    with pytest.raises(ev.EvaluationError, match="a LoRA run's Hugging Face dump"):
        ev.resolve_model(str(dump), tmp_path / "out", {})
    save_file({"model.language_model.layers.0.self_attn.q_proj.weight": torch.zeros(2, 2)}, str(dump / "model.safetensors"))
    assert not lora_merge.holds_peft_keys(Path(dump))
