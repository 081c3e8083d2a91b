"""The worker's log-prob stage on CPU: ``vogue_forward_step`` run on a real ``FSDPEngineWithLMHead`` object
(no FSDP, no process group) with a tiny per-token model, in verl's padded and packed layouts, on
micro-batches mixing raw-only and probed rows, against a float64 brute-force reference per sequence."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import verl.utils.torch_functional as verl_F
from recipe.vogue.trainer.worker import (
    PAIRED_INPUTS_KEY,
    positions_to_jagged,
    response_positions,
    scalar_temperature,
    vogue_forward_step,
)
from verl import DataProto
from verl.utils import tensordict_utils as tu
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead
from verl.workers.utils.padding import left_right_2_no_padding, no_padding_2_padding

VOCAB, HIDDEN = 23, 8


@pytest.fixture(autouse=True)
def cpu_platform(monkeypatch):
    """verl's platform seam: without a GPU platform plugin, device id 0 means cuda:0."""
    monkeypatch.setattr("recipe.vogue.trainer.worker.get_device_id", lambda: "cpu")
    monkeypatch.setattr("recipe.vogue.trainer.worker.get_device_name", lambda: "cpu")


class PerTokenVisionLM(torch.nn.Module):
    """logits[t] = E[token_t]·W + mean(pixel_values)·v, the mean over the pixels of the forward's rows:
    independent of positions, so the packed and padded layouts must give the same per-token values, and the
    pixels move every distribution (which rows share a forward shows in every value)."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.embed = torch.nn.Parameter(torch.randn(VOCAB, HIDDEN, generator=generator))
        self.head = torch.nn.Parameter(torch.randn(HIDDEN, VOCAB, generator=generator))
        self.pixel_direction = torch.nn.Parameter(torch.randn(VOCAB, generator=generator) * 3)

    def logits(self, input_ids, pixel_values):
        return self.embed[input_ids] @ self.head + pixel_values.float().mean() * self.pixel_direction

    def forward(self, input_ids, pixel_values, **_):
        return SimpleNamespace(logits=self.logits(input_ids, pixel_values))


def make_engine(model):
    engine = object.__new__(FSDPEngineWithLMHead)
    engine.module = model
    engine.pad_to_length = False
    engine.use_ulysses_sp = False
    engine._autocast_dtype = torch.float32
    engine.engine_config = SimpleNamespace(entropy_checkpointing=False, entropy_from_logits_with_chunking=False)
    engine.compute_entropy_from_logits = verl_F.entropy_from_logits
    return engine


def make_micro_batch(make_rollout_tensors, prompt_lens, response_lens, temperature, use_remove_padding, seed=0,
                     probed=None):
    """``probed``: rows with noisy inputs (default all); the others get None, as the trainer sends them."""
    tensors = make_rollout_tensors(prompt_lens, response_lens, vocab=(1, VOCAB), seed=seed)
    generator = torch.Generator().manual_seed(seed)
    raw, noisy = np.empty(len(prompt_lens), dtype=object), np.empty(len(prompt_lens), dtype=object)
    raw[:] = [{"pixel_values": torch.rand(4, 6, generator=generator)} for _ in prompt_lens]
    noisy[:] = [{"pixel_values": torch.rand(4, 6, generator=generator) + 0.5} for _ in prompt_lens]
    for row in range(len(prompt_lens)):
        if probed is not None and row not in probed:
            noisy[row] = None
    data = DataProto.from_dict(
        tensors=tensors,
        non_tensors={"multi_modal_inputs": raw, PAIRED_INPUTS_KEY: noisy},
        meta_info={"temperature": temperature},
    )
    td = left_right_2_no_padding(data.to_tensordict())
    tu.assign_non_tensor(td, use_remove_padding=use_remove_padding, calculate_entropy=True, use_fused_kernels=False)
    return data, td


def reference(model, data, temperature, estimator="full"):
    """Per sequence, float64: log p(o_t), entropy, and for rows with noisy inputs log q(o_t), noisy entropy and
    u_per = ½Σ(p−q)(log p − log q) (``full``) or Σ p(log p − log q) (``forward_full``), 0 for the others;
    response-aligned [B, R] (token j scored at prompt_len + j − 1) like verl's no_padding_2_padding. The raw
    forward covers every row (it sees all rows' own pixels), the paired forward the probed rows only (it sees
    their paired pixels)."""
    batch = data.batch
    out = {key: torch.zeros(batch["responses"].shape, dtype=torch.float64) for key in
           ("log_probs", "entropy", "paired_log_probs", "paired_entropy", "u_per")}
    paired_inputs = list(data.non_tensor_batch[PAIRED_INPUTS_KEY])
    forward_rows = {"multi_modal_inputs": range(len(data)),
                    PAIRED_INPUTS_KEY: [r for r, n in enumerate(paired_inputs) if n is not None]}

    def group_pixels(rows, key):
        return torch.cat([data.non_tensor_batch[key][r]["pixel_values"] for r in rows])

    for row in range(len(data)):
        probed = paired_inputs[row] is not None
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()]
        prompt_len = int(batch["attention_mask"][row, : batch["prompts"].shape[1]].sum())
        response_len = len(ids) - prompt_len
        positions = torch.arange(prompt_len - 1, len(ids) - 1)
        targets = ids[positions + 1]
        branches = [("", "multi_modal_inputs")] + ([("paired_", PAIRED_INPUTS_KEY)] if probed else [])
        log_softmax = {}
        for prefix, key in branches:
            logits = model.logits(ids[positions], group_pixels(forward_rows[key], key)).double() / temperature
            log_p = log_softmax[prefix] = torch.log_softmax(logits, dim=-1)
            out[prefix + "log_probs"][row, :response_len] = log_p.gather(-1, targets[:, None]).squeeze(-1)
            out[prefix + "entropy"][row, :response_len] = -(log_p.exp() * log_p).sum(-1)
        if probed:
            log_p, log_q = log_softmax[""], log_softmax["paired_"]
            if estimator == "full":
                u_per = 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1)
            else:
                u_per = (log_p.exp() * (log_p - log_q)).sum(-1)
            out["u_per"][row, :response_len] = u_per
    return out


@pytest.mark.parametrize("probed", [None, (1, 3), (0,), ()], ids=["all-probed", "mixed", "one-probed", "none-probed"])
@pytest.mark.parametrize("estimator", ["full", "forward_full"])
@pytest.mark.parametrize("use_remove_padding", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("vocab_math", ["eager", "compiled"])
def test_forward_step_matches_per_sequence_reference(make_rollout_tensors, use_remove_padding, temperature,
                                                     estimator, probed, vocab_math):
    model = PerTokenVisionLM()
    data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2, 4], [4, 1, 6, 3], temperature, use_remove_padding,
                                probed=probed)
    loss, output = vogue_forward_step(make_engine(model), td, None, True, chunk_size=5, estimator=estimator,
                                      vocab_math=vocab_math)
    assert float(loss) == 1.0 and output["metrics"] == {}
    expected = reference(model, data, temperature, estimator)
    mask = data.batch["response_mask"].bool()
    for key, value in expected.items():
        got = no_padding_2_padding(output["model_output"][key], td).double()
        torch.testing.assert_close(got[mask], value[mask], rtol=1e-4, atol=1e-5, msg=key)
    kl = no_padding_2_padding(output["model_output"]["u_per"], td)
    probed_rows = torch.tensor([probed is None or row in probed for row in range(4)])
    assert (kl[mask & probed_rows[:, None]] > 0).all() and not kl[~probed_rows].any()


@pytest.mark.parametrize("estimator", ["full", "forward_full", "dupl_code", "sampled"])
def test_every_micro_batch_returns_the_same_keys_whatever_it_probes(make_rollout_tensors, estimator):
    """verl concatenates micro-batches (and DP ranks) key by key: a raw-only micro-batch next to a probed one
    must return the same keys with the same rows, or the stage fails (a 100-step run did, once p(s) was
    small enough that a 32-row micro-batch drew no probed row)."""
    model = PerTokenVisionLM()
    keys = {}
    for probed in ((), (1,), None):
        data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2], [4, 1, 6], 1.0, True, probed=probed)
        _, output = vogue_forward_step(make_engine(model), td, None, True, chunk_size=4, estimator=estimator)
        keys[probed] = set(output["model_output"])
        assert all(output["model_output"][key].size(0) == 3 for key in keys[probed])
    expected = {"log_probs", "entropy", "paired_log_probs", "paired_entropy"} | (
        {"u_per"} if estimator in ("full", "forward_full") else set())
    assert keys[()] == keys[(1,)] == keys[None] == expected


def test_sampled_estimators_get_both_branches_log_probs_and_no_kl(make_rollout_tensors):
    model = PerTokenVisionLM()
    data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2], [4, 1, 6], 1.0, True, probed=(2,))
    _, output = vogue_forward_step(make_engine(model), td, None, True, chunk_size=4, estimator="dupl_code")
    assert "u_per" not in output["model_output"]
    expected = reference(model, data, 1.0)
    mask = data.batch["response_mask"].bool()
    got = no_padding_2_padding(output["model_output"]["paired_log_probs"], td).double()
    torch.testing.assert_close(got[mask], expected["paired_log_probs"][mask], rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 5)), min_size=1, max_size=5), st.booleans(),
       st.integers(0, 3))
def test_response_positions_are_the_ones_verl_reads(make_rollout_tensors, lengths, packed, pad):
    """The mask selects exactly the positions no_padding_2_padding reads: in sequence i of length L_i with R_i
    response tokens, L_i − R_i − 1 … L_i − 2 (packed [1, tokens + pad] or padded [batch, max_len] layouts)."""
    prompt_lens, response_lens = [p for p, _ in lengths], [r for _, r in lengths]
    _, td = make_micro_batch(make_rollout_tensors, prompt_lens, response_lens, 1.0, packed)
    sequence_lens = [p + r for p, r in lengths]
    if packed:
        shape, expected, start = torch.Size((1, sum(sequence_lens) + pad, VOCAB)), set(), 0
        for length, response in zip(sequence_lens, response_lens, strict=True):
            expected |= {start + j for j in range(length - response - 1, length - 1)}
            start += length
        chosen = set(response_positions(td, shape, True).nonzero().flatten().tolist())
    else:
        shape = torch.Size((len(lengths), max(sequence_lens) + pad, VOCAB))
        expected = {(i, j) for i, (length, response) in enumerate(zip(sequence_lens, response_lens, strict=True))
                    for j in range(length - response - 1, length - 1)}
        chosen = {tuple(ij) for ij in response_positions(td, shape, False).nonzero().tolist()}
    assert chosen == expected


def test_packed_and_padded_layouts_agree(make_rollout_tensors):
    model = PerTokenVisionLM()
    outputs = {}
    for packed in (False, True):
        data, td = make_micro_batch(make_rollout_tensors, [2, 6, 4], [5, 2, 3], 1.0, packed, seed=5, probed=(0, 2))
        _, output = vogue_forward_step(make_engine(model), td, None, True, chunk_size=2)
        outputs[packed] = {k: no_padding_2_padding(v, td) for k, v in output["model_output"].items()}
    for key in outputs[True]:
        torch.testing.assert_close(outputs[True][key], outputs[False][key], rtol=1e-5, atol=1e-6, msg=key)


def test_forward_step_is_inference_only(make_rollout_tensors):
    data, td = make_micro_batch(make_rollout_tensors, [2], [2], 1.0, False)
    with pytest.raises(RuntimeError, match="inference only"):
        vogue_forward_step(make_engine(PerTokenVisionLM()), td, None, False, chunk_size=2)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=6), st.integers(0, 3))
def test_positions_to_jagged_packed_and_padded(lengths, extra_width):
    cu_seqlens = torch.tensor([0, *np.cumsum(lengths)])
    packed = torch.arange(float(sum(lengths)))
    padded = torch.full((len(lengths), max(lengths) + extra_width), -1.0)
    for row, length in enumerate(lengths):
        padded[row, :length] = packed[cu_seqlens[row] : cu_seqlens[row + 1]]
    for values in (packed, padded):
        jagged = positions_to_jagged(values, cu_seqlens)
        assert [t.tolist() for t in jagged.unbind()] == [
            packed[cu_seqlens[i] : cu_seqlens[i + 1]].tolist() for i in range(len(lengths))
        ]


def test_positions_to_jagged_rejects_mismatched_layouts():
    cu_seqlens = torch.tensor([0, 2, 5])
    with pytest.raises(ValueError, match="4 packed values for 5 tokens"):
        positions_to_jagged(torch.zeros(4), cu_seqlens)
    with pytest.raises(ValueError, match="do not hold sequences"):
        positions_to_jagged(torch.zeros(2, 2), cu_seqlens)
    with pytest.raises(ValueError, match="packed \\[tokens\\] or padded"):
        positions_to_jagged(torch.zeros(1, 2, 5), cu_seqlens)


def test_scalar_temperature():
    assert scalar_temperature(0.7) == 0.7
    assert scalar_temperature(torch.full((3,), 0.5)) == 0.5
    with pytest.raises(ValueError, match="one sampling temperature per batch"):
        scalar_temperature(torch.tensor([0.5, 1.0]))


@pytest.fixture
def single_process_group(tmp_path):
    """A one-rank gloo group (verl's slicing asks the SP group's size), destroyed afterwards."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("vocab_math", ["eager", "compiled"])
def test_ulysses_layout_pairs_the_whole_micro_batch(make_rollout_tensors, monkeypatch, single_process_group, vocab_math):
    """Under Ulysses SP (simulated with one SP rank: verl's slicing code at sp_size 1, no SP group) values are
    computed at every position and the paired forward covers the whole micro-batch, rows without paired
    inputs under their own; their paired values are dropped. Checked against the same reference with the
    paired forward's pixels = probed rows' paired pixels + the other rows' own."""
    model = PerTokenVisionLM()
    data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2, 4], [4, 1, 6, 3], 0.7, True, probed=(1, 2))
    engine = make_engine(model)
    engine.use_ulysses_sp, engine.ulysses_sequence_parallel_size, engine.ulysses_device_mesh = True, 1, None
    model.config = SimpleNamespace(vision_config=None)  # a VLM to verl: slices after the embedding
    monkeypatch.setattr(engine, "_gather_and_unpad_packed",
                        lambda tensor, pad_size: tensor[:-pad_size] if pad_size else tensor, raising=False)
    monkeypatch.setattr("verl.workers.engine.fsdp.transformer_impl.gather_outputs_and_unpad",
                        lambda x, gather_dim, unpad_dim, padding_size: x[:-padding_size] if padding_size else x)
    _, output = vogue_forward_step(engine, td, None, True, chunk_size=3, vocab_math=vocab_math)
    mixed = data[:]  # the paired forward's pixels: paired for probed rows, own for the others
    column = mixed.non_tensor_batch[PAIRED_INPUTS_KEY].copy()
    column[[0, 3]] = mixed.non_tensor_batch["multi_modal_inputs"][[0, 3]]
    mixed.non_tensor_batch[PAIRED_INPUTS_KEY] = column
    expected = reference(model, mixed, 0.7)
    mask = data.batch["response_mask"].bool()
    probed_rows = torch.tensor([False, True, True, False])[:, None]
    for key, value in expected.items():
        got = no_padding_2_padding(output["model_output"][key], td).double()
        if key.startswith("paired_") or key == "u_per":
            value = value * probed_rows
        torch.testing.assert_close(got[mask], value[mask], rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.parametrize("image_rows", [(1,), (0, 2), ()], ids=["second-row", "first-row", "text-only"])
def test_the_dummy_forward_is_one_row_with_an_image_where_there_is_one(make_rollout_tensors, image_rows):
    """A rank without a probed row, while another rank has one, runs one discarded forward over ONE of its rows,
    the first with an image (so the vision tower's collectives run on real pixels); a text-only micro-batch
    uses its first row (verl then runs the tower on a dummy grid)."""
    from recipe.vogue.trainer.worker import _dummy_forward

    seen = []

    class Recording(PerTokenVisionLM):
        def forward(self, input_ids, pixel_values=None, **_):
            seen.append((input_ids.shape, None if pixel_values is None else pixel_values.clone()))
            return SimpleNamespace(logits=torch.zeros(*input_ids.shape, VOCAB))

    data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2], [4, 1, 6], 1.0, True, probed=())
    own = data.non_tensor_batch["multi_modal_inputs"]
    for row in range(3):
        if row not in image_rows:
            own[row] = {}
    td = left_right_2_no_padding(data.to_tensordict())
    tu.assign_non_tensor(td, use_remove_padding=True, calculate_entropy=True, use_fused_kernels=False)
    _dummy_forward(make_engine(Recording()), td)
    (shape, pixels), = seen
    row = image_rows[0] if image_rows else 0
    assert shape[-1] == [7, 6, 8][row]  # the chosen row's tokens only
    if image_rows:
        assert torch.equal(pixels, own[row]["pixel_values"])
    else:
        assert pixels is None
