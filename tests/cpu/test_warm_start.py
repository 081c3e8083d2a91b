"""recipe/vogue/cpu/warm_start.py's vision pre-training: the answer words' classes, and that it trains the
vision tower alone (the language model bit-identical) on rows with one or several images."""

import io

import pandas as pd
import pytest
import torch
from PIL import Image

from data_prep import synthetic
from recipe.vogue.cpu import tiny
from recipe.vogue.cpu.warm_start import answer_word_labels, pretrain_vision


def test_answer_words_are_classes_per_position():
    vocab, classes = answer_word_labels(["2 red circle", "1 blue square", "2 blue circle"])
    assert vocab == [["1", "2"], ["blue", "red"], ["circle", "square"]]
    assert classes.tolist() == [[1, 1, 0], [0, 0, 1], [1, 0, 0]]


def test_answers_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"one word count; got counts \[1, 3\]"):
        answer_word_labels(["red", "2 red circle"])


def _two_image_rows(path, out):
    """The compose rows with each image twice (a prompt with two images)."""
    frame = pd.read_parquet(path)
    frame["images"] = [list(images) * 2 for images in frame["images"]]
    frame["prompt"] = [[{**message, "content": "<image>" + message["content"]} for message in prompt] for prompt in frame["prompt"]]
    frame.to_parquet(out)
    return str(out)


@pytest.mark.parametrize("images_per_row", [1, 2])
def test_vision_pretraining_changes_only_the_vision_tower(tmp_path, images_per_row):
    assert synthetic.main(["--out-dir", str(tmp_path), "--task", "compose", "--train", "24", "--val", "4"]) == 0
    data = str(tmp_path / "train.parquet")
    if images_per_row == 2:
        data = _two_image_rows(data, tmp_path / "two.parquet")
        first = pd.read_parquet(data).iloc[0]
        assert len(first["images"]) == 2 and first["prompt"][0]["content"].count("<image>") == 2
        Image.open(io.BytesIO(first["images"][1]["bytes"]))  # a readable image
    tokenizer = tiny.build_tokenizer(task="compose")
    model = tiny.build_model(tokenizer, size="tiny_wide_vision")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    report = pretrain_vision(model, tiny.build_processor(tokenizer), data, steps=3, batch_size=8)
    assert report["steps"] == 3 and report["first_loss"] > 0
    for name, parameter in model.named_parameters():
        changed = not torch.equal(parameter, before[name])
        if not name.startswith("model.visual."):
            assert not changed, f"{name} changed"
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n.startswith("model.visual."))


def test_the_wide_vision_size_is_the_tiny_language_model_with_a_128_wide_vision_tower():
    tokenizer = tiny.build_tokenizer(task="compose")
    tiny_model, wide = tiny.build_model(tokenizer), tiny.build_model(tokenizer, size="tiny_wide_vision")
    assert wide.config.vision_config.hidden_size == 128 and tiny_model.config.vision_config.hidden_size == 32
    assert wide.config.text_config.to_dict() == tiny_model.config.text_config.to_dict()
    with pytest.raises(ValueError, match="tiny_wide_vision"):
        tiny.build_model(tokenizer, arch="qwen3_vl", size="tiny_wide_vision")


@pytest.mark.parametrize("warm_seed", [None, 1000])
def test_assets_warm_start_on_rows_of_their_own_when_asked(tmp_path, monkeypatch, warm_seed):
    from recipe.vogue.cpu import tiny_run

    commands = []
    monkeypatch.setattr(tiny_run, "_run", lambda what, command, log: commands.append(command))
    data_dir, model_dir = tiny_run.ensure_assets(str(tmp_path), 3, ["--task", "compose"], ["--size", "tiny_wide_vision"],
                                                 warm_start_data_seed=warm_seed)
    data = [c for c in commands if c[2] == "data_prep"]
    (build,) = [c for c in commands if c[2] == "recipe.vogue.cpu.tiny"]
    warm = build[build.index("--warm-start-data") + 1]
    if warm_seed is None:
        assert [c[c.index("--seed") + 1] for c in data] == ["3"] and warm == f"{data_dir}/train.parquet"
    else:
        assert [(c[c.index("--out-dir") + 1], c[c.index("--seed") + 1]) for c in data] == [
            (data_dir, "3"), (str(tmp_path / "warm_start_data"), "1000")]
        assert warm == str(tmp_path / "warm_start_data" / "train.parquet")
    assert build[-2:] == ["--size", "tiny_wide_vision"] and all(c[-2:] == ["--task", "compose"] for c in data)
