"""python -m recipe.vogue.export: a verl FSDP checkpoint (one rank's layout, as verl's checkpoint manager writes
it) becomes a folder that AutoModelForImageTextToText and AutoProcessor load, whose greedy generations equal
the checkpoint's model's token for token; bad input gives one-line errors and leaves nothing behind."""

import json
import random
import shutil

import pytest
import torch
from safetensors.torch import load_file

from data_prep.synthetic import make_example
from recipe.vogue import export
from recipe.vogue.cpu.warm_start import encode


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir, tmp_path_factory):
    actor = tmp_path_factory.mktemp("checkpoints") / "global_step_5" / "actor"
    shutil.copytree(tiny_model_dir, actor / "huggingface", ignore=shutil.ignore_patterns("*.safetensors"))
    torch.save(load_file(f"{tiny_model_dir}/model.safetensors"), actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    return actor.parent


def greedy_tokens(model, processor, prompts):
    batch = encode(processor, prompts, with_answer=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=12, do_sample=False)
    return out[:, batch["input_ids"].shape[1]:].tolist()


def test_the_export_generates_what_the_checkpoint_does(checkpoint, tiny_model_dir, tmp_path, capsys):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = tmp_path / "exported"
    assert export.main([str(checkpoint), "--out", str(out)]) == 0
    assert f"(step 5) → {out}" in capsys.readouterr().out
    exported = AutoModelForImageTextToText.from_pretrained(out, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(out)
    # the checkpoint's model in process, with the bf16 rounding verl's merger applies to every weight
    reference = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.copy_(parameter.to(torch.bfloat16).float())
    rng = random.Random(0)
    prompts = []
    for _ in range(8):
        image, question, answer, _ = make_example(rng)
        prompts.append(([{"role": "user", "content": "<image>" + question}], [image], answer))
    assert greedy_tokens(exported, processor, prompts) == greedy_tokens(reference, processor, prompts)


def test_not_a_checkpoint_and_an_existing_output_are_one_line_errors(checkpoint, tiny_model_dir, tmp_path, capsys):
    assert export.main([str(tiny_model_dir), "--out", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a verl FSDP checkpoint" in error and "already a Hugging Face model" in error
    existing = tmp_path / "existing"
    existing.mkdir()
    assert export.main([str(checkpoint), "--out", str(existing)]) == 2
    assert "exists; export writes a new folder" in capsys.readouterr().err and not any(existing.iterdir())


def test_a_failing_merge_leaves_no_folder(checkpoint, tmp_path, capsys):
    broken = tmp_path / "global_step_1" / "actor"
    shutil.copytree(checkpoint / "actor", broken)
    (broken / "model_world_size_1_rank_0.pt").write_bytes(b"not a checkpoint")
    out = tmp_path / "out"
    assert export.main([str(broken.parent), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("export: ") and "-m verl.model_merger exited with 1: _pickle.UnpicklingError" in error
    assert error.count("\n") == 1
    assert not out.exists() and not (tmp_path / "out.partial").exists()
