"""The verl 0.9.1 fix for text-only Qwen2.5-VL micro-batches, on a real (tiny) Qwen2.5-VL."""

import pytest
import torch

from recipe.vogue.trainer.verl_patches import patch_qwen2_vl_text_only_batches


@pytest.fixture
def tiny_model(tiny_model_dir):
    """The inner Qwen2_5_VLModel: what verl's patched base forward passes to _get_input_embeds."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, torch_dtype=torch.float32).model


@pytest.fixture
def qwen2_vl_module(monkeypatch):
    from verl.models.transformers import qwen2_vl

    monkeypatch.setattr(qwen2_vl, "_get_input_embeds", qwen2_vl._get_input_embeds)  # restored after the test
    return qwen2_vl


def test_verl_crashes_on_a_text_only_micro_batch_and_the_patch_fixes_it(tiny_model, qwen2_vl_module):
    input_ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    mask = torch.ones_like(input_ids)
    with pytest.raises(AttributeError, match="BaseModelOutputWithPooling"):
        qwen2_vl_module._get_input_embeds(tiny_model, input_ids, mask)
    patch_qwen2_vl_text_only_batches()
    patch_qwen2_vl_text_only_batches()  # idempotent: wraps once
    embeds, out_mask = qwen2_vl_module._get_input_embeds(tiny_model, input_ids, mask)
    torch.testing.assert_close(embeds, tiny_model.get_input_embeddings()(input_ids))
    assert torch.equal(out_mask, mask)
    embeds.sum().backward()  # the vision tower is in the graph (zero gradients), as verl intends for FSDP
    assert all(p.grad is not None for p in tiny_model.visual.parameters() if p.requires_grad)


def test_batches_with_pixels_go_to_verls_function(tiny_model, qwen2_vl_module, monkeypatch):
    calls = []
    monkeypatch.setattr(qwen2_vl_module, "_get_input_embeds", lambda *args: calls.append(args) or "verl")
    patch_qwen2_vl_text_only_batches()
    pixels = torch.zeros(16, 3)
    assert qwen2_vl_module._get_input_embeds(tiny_model, torch.zeros(1, 2, dtype=torch.long), None, pixels) == "verl"
    assert calls[0][3] is pixels


def test_freeze_vision_tower_keeps_the_vision_parameters(tiny_model_dir):
    """verl 0.9.1 declares actor.freeze_vision_tower but never reads it on the FSDP path; the worker applies
    it: after a training step the visual.* parameters are unchanged and the language model's moved."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from recipe.vogue.trainer.worker import freeze_vision_tower

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, torch_dtype=torch.float32)
    frozen = set(freeze_vision_tower(model))
    assert frozen and all(".visual." in f".{name}" for name in frozen)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)  # as verl builds it: all parameters
    pixels = torch.rand(16, 3 * 2 * 14 * 14)
    image_token = model.config.image_token_id
    ids = torch.tensor([[5, image_token, image_token, image_token, image_token, 7, 8, 9]])
    loss = model(input_ids=ids, pixel_values=pixels, image_grid_thw=torch.tensor([[1, 4, 4]]),
                 mm_token_type_ids=(ids == image_token).long(), labels=ids).loss
    loss.backward()
    optimizer.step()
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert not changed & frozen
    assert changed and all(name not in frozen for name in changed)
    with pytest.raises(ValueError, match="no visual"):
        freeze_vision_tower(torch.nn.Linear(2, 2))


def padded_batch(prompt_lengths, response_length=3, max_prompt=5):
    """A left-right padded batch as verl's trainer holds it before ``left_right_2_no_padding``: rows of
    ``prompt_lengths`` prompt tokens (left-padded to ``max_prompt``) and full responses; M-RoPE position ids."""
    from tensordict import TensorDict

    rows = len(prompt_lengths)
    length = max_prompt + response_length
    attention = torch.zeros(rows, length, dtype=torch.long)
    for row, prompt in enumerate(prompt_lengths):
        attention[row, max_prompt - prompt:] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return TensorDict({
        "input_ids": torch.arange(rows * length).reshape(rows, length) % 50 + 1,
        "attention_mask": attention,
        "response_mask": torch.ones(rows, response_length, dtype=torch.long),
        "position_ids": positions.unsqueeze(1).expand(rows, 4, length).clone(),
    }, batch_size=[rows])


def test_verl_nests_uniform_length_position_ids_on_the_wrong_dimension_and_the_patch_fixes_it(monkeypatch):
    from verl.trainer.ppo import ray_trainer
    from verl.utils import tensordict_utils as tu

    from recipe.vogue.trainer.verl_patches import patch_uniform_length_position_ids

    monkeypatch.setattr(ray_trainer, "left_right_2_no_padding", ray_trainer.left_right_2_no_padding)  # restored after
    uniform, mixed = padded_batch([5, 5, 5, 5]), padded_batch([5, 3, 4, 5])
    assert ray_trainer.left_right_2_no_padding(uniform.clone())["position_ids"]._ragged_idx == 1  # the 4 M-RoPE rows
    assert ray_trainer.left_right_2_no_padding(mixed.clone())["position_ids"]._ragged_idx == 2  # the sequence
    patch_uniform_length_position_ids()
    patch_uniform_length_position_ids()  # idempotent
    fixed = [ray_trainer.left_right_2_no_padding(batch.clone())["position_ids"] for batch in (uniform, mixed)]
    assert [nested._ragged_idx for nested in fixed] == [2, 2]
    for nested, batch in zip(fixed, (uniform, mixed)):
        for row, rows_positions in enumerate(nested.unbind()):
            mask = batch["attention_mask"][row].bool()
            assert torch.equal(rows_positions, batch["position_ids"][row][:, mask])
    # verl's own concatenation and selection now see one layout
    joined = tu.concat_nested_tensors(fixed)
    picked = tu.index_select_tensor_dict(tu.get_tensordict({"position_ids": joined}), torch.tensor([0, 5]))["position_ids"]
    assert [tuple(row.shape) for row in picked.unbind()] == [(4, 8), (4, 6)]
