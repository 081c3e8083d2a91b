"""Sizes and costs from the committed target-model configs, against hand-computed values."""

import pytest

from recipe.vogue.preflight import cost_model


@pytest.mark.parametrize("name, billions, vocabulary", [("qwen2_5_vl_3b", 3.75, 151936), ("qwen2_5_vl_7b", 8.29, 152064)])
def test_published_configs_give_the_published_sizes(name, billions, vocabulary):
    config = cost_model.target_model_config(name)
    assert round(cost_model.parameter_count(config) / 1e9, 2) == billions
    assert cost_model.vocabulary_size(config) == vocabulary


def test_checkpoint_bytes_per_parameter():
    assert cost_model.checkpoint_bytes(10, ["model", "optimizer", "extra"]) == 10 * 12  # fp32 + two fp32 moments
    assert cost_model.checkpoint_bytes(10, ["model", "optimizer", "extra", "hf_model"]) == 10 * 14
    assert cost_model.checkpoint_bytes(10, []) == 0


def test_paired_pass_peak():
    # raw logits at the response positions (half of 8192 tokens) + the noisy logits, bf16, + 3 fp32 chunks
    assert cost_model.paired_pass_peak_logits_bytes(8192, 1000, 2, 128, 0.5) == 1.5 * 8192 * 1000 * 2 + 3 * 128 * 1000 * 4


def test_overheads():
    assert cost_model.vogue_overhead_from_flops(2.0) == pytest.approx(1 / 3)
    assert cost_model.vogue_overhead_from_flops(0.5) == pytest.approx(0.5 / 6)
    assert cost_model.vogue_overhead_from_released_timing(2.0) == pytest.approx(4.95 / 4.12 - 1)
    assert cost_model.vogue_overhead_from_released_timing(0.5) == pytest.approx((4.95 / 4.12 - 1) / 4)
    predictions = cost_model.predicted_step_overheads(0.5)
    assert any("+5.0% calibrated" in text for text in predictions.values())


@pytest.mark.parametrize("probability", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("rows, ranks", [(1, 2), (2, 2), (3, 2), (2, 3)])
def test_dummy_forward_share_against_every_draw(probability, rows, ranks):
    """Exact enumeration of every probed/raw outcome of every rank's micro-batch: the expected dummy rows of one
    rank (no probed row here, one elsewhere) over the expected raw + paired rows of its stage."""
    import itertools

    dummy = forwarded = 0.0
    for outcome in itertools.product((0, 1), repeat=rows * ranks):
        weight = 1.0
        for probed in outcome:
            weight *= probability if probed else 1 - probability
        mine, others = outcome[:rows], outcome[rows:]
        dummy += weight * (not any(mine) and any(others))
        forwarded += weight * (rows + sum(mine))
    assert cost_model.dummy_forward_share(probability, rows, ranks) == pytest.approx(dummy / forwarded, abs=1e-12)


def test_lora_checkpoint_bytes():
    """10 base parameters, 2 LoRA: the model holds both (4 B each) or the adapters only; AdamW's moments are the
    adapters' only; the Hugging Face copy holds both in bf16."""
    assert cost_model.checkpoint_bytes(10, ["model", "optimizer"], lora_parameters=2) == 4 * 12 + 8 * 2
    assert cost_model.checkpoint_bytes(10, ["model", "optimizer"], lora_parameters=2, lora_only=True) == 4 * 2 + 8 * 2
    assert cost_model.checkpoint_bytes(10, ["hf_model"], lora_parameters=2) == 2 * 12


@pytest.mark.parametrize("exclude", [".*visual.*", None])
def test_lora_parameter_count_is_rank_times_in_plus_out_of_each_adapted_linear(exclude):
    """Brute force over the tiny model's linears: peft's all-linear adapts every nn.Linear but the output head."""
    import re

    import torch

    from recipe.vogue.cpu import tiny

    model = tiny.build_model(tiny.build_tokenizer())
    expected = sum(8 * (module.in_features + module.out_features) for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear) and name != "lm_head"
                   and not (exclude and re.fullmatch(exclude, name)))
    assert cost_model.lora_parameter_count(model.config, 8, "all-linear", exclude) == expected
    if exclude is None:  # the vision tower's linears are adapted too
        assert expected > cost_model.lora_parameter_count(model.config, 8, "all-linear", ".*visual.*")
