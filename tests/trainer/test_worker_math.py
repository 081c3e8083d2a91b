"""The full-KL worker glue on CPU: ``paired_forward_step`` run on a real ``FSDPEngineWithLMHead`` object
(no FSDP, no process group) with a tiny per-token model, in verl's padded and packed layouts, against a
float64 brute-force reference computed per sequence."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import verl.utils.torch_functional as verl_F
from recipe.vogue.worker import NOISY_INPUTS_KEY, paired_forward_step, positions_to_jagged, scalar_temperature
from verl import DataProto
from verl.utils import tensordict_utils as tu
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead
from verl.workers.utils.padding import left_right_2_no_padding, no_padding_2_padding

VOCAB, HIDDEN = 23, 8


@pytest.fixture(autouse=True)
def cpu_platform(monkeypatch):
    """verl's platform seam: without a GPU platform plugin, device id 0 means cuda:0."""
    monkeypatch.setattr("recipe.vogue.worker.get_device_id", lambda: "cpu")
    monkeypatch.setattr("recipe.vogue.worker.get_device_name", lambda: "cpu")


class PerTokenVisionLM(torch.nn.Module):
    """logits[t] = E[token_t]·W + mean(pixel_values)·v, the mean over the micro-batch's pixels: independent
    of positions, so the packed and padded layouts must give the same per-token values, and the pixels
    move every distribution."""

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


def make_micro_batch(make_rollout_tensors, prompt_lens, response_lens, temperature, use_remove_padding, seed=0):
    tensors = make_rollout_tensors(prompt_lens, response_lens, vocab=(1, VOCAB), seed=seed)
    generator = torch.Generator().manual_seed(seed)
    raw, noisy = np.empty(len(prompt_lens), dtype=object), np.empty(len(prompt_lens), dtype=object)
    raw[:] = [{"pixel_values": torch.rand(4, 6, generator=generator)} for _ in prompt_lens]
    noisy[:] = [{"pixel_values": torch.rand(4, 6, generator=generator) + 0.5} for _ in prompt_lens]
    data = DataProto.from_dict(
        tensors=tensors,
        non_tensors={"multi_modal_inputs": raw, NOISY_INPUTS_KEY: noisy},
        meta_info={"temperature": temperature},
    )
    td = left_right_2_no_padding(data.to_tensordict())
    tu.assign_non_tensor(td, use_remove_padding=use_remove_padding, calculate_entropy=True, use_fused_kernels=False)
    return data, td


def reference(model, data, temperature, estimator="full"):
    """Per sequence, float64: log p(o_t), entropy, noisy log q(o_t), noisy entropy, and u_per =
    ½Σ(p−q)(log p − log q) (``full``) or Σ p(log p − log q) (``forward_full``), response-aligned [B, R]
    (token j scored at prompt_len + j − 1) like verl's no_padding_2_padding."""
    batch = data.batch
    out = {key: torch.zeros(batch["responses"].shape, dtype=torch.float64) for key in
           ("log_probs", "entropy", "noisy_log_probs", "noisy_entropy", "u_per")}
    for row in range(len(data)):
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()]
        prompt_len = int(batch["attention_mask"][row, : batch["prompts"].shape[1]].sum())
        response_len = len(ids) - prompt_len
        positions = torch.arange(prompt_len - 1, len(ids) - 1)
        targets = ids[positions + 1]
        branch = {}
        for name, key in (("raw", "multi_modal_inputs"), ("noisy", NOISY_INPUTS_KEY)):
            pixels = torch.cat([inputs["pixel_values"] for inputs in data.non_tensor_batch[key]])  # the micro-batch's
            logits = model.logits(ids[positions], pixels).double() / temperature
            branch[name] = torch.log_softmax(logits, dim=-1)
        for name, prefix in (("raw", ""), ("noisy", "noisy_")):
            log_p = branch[name]
            out[prefix + "log_probs"][row, :response_len] = log_p.gather(-1, targets[:, None]).squeeze(-1)
            out[prefix + "entropy"][row, :response_len] = -(log_p.exp() * log_p).sum(-1)
        log_p, log_q = branch["raw"], branch["noisy"]
        if estimator == "full":
            u_per = 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1)
        else:
            u_per = (log_p.exp() * (log_p - log_q)).sum(-1)
        out["u_per"][row, :response_len] = u_per
    return out


@pytest.mark.parametrize("estimator", ["full", "forward_full"])
@pytest.mark.parametrize("use_remove_padding", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_paired_forward_step_matches_per_sequence_reference(make_rollout_tensors, use_remove_padding, temperature,
                                                            estimator):
    model = PerTokenVisionLM()
    data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2, 4], [4, 1, 6, 3], temperature, use_remove_padding)
    loss, output = paired_forward_step(make_engine(model), td, None, True, chunk_size=5, estimator=estimator)
    assert float(loss) == 1.0 and output["metrics"] == {}
    expected = reference(model, data, temperature, estimator)
    mask = data.batch["response_mask"].bool()
    for key, value in expected.items():
        got = no_padding_2_padding(output["model_output"][key], td).double()
        torch.testing.assert_close(got[mask], value[mask], rtol=1e-4, atol=1e-5, msg=key)
    kl = no_padding_2_padding(output["model_output"]["u_per"], td)
    assert (kl[mask] > 0).all()


class Bf16LogitsLM(PerTokenVisionLM):
    """Returns bf16 logits of a realistic scale (logsumexp ≈ 20–30 over 4,096 entries), as a bf16 model does."""

    def forward(self, input_ids, pixel_values, **_):
        logits = self.logits(input_ids, pixel_values)
        return SimpleNamespace(logits=(wide_vocabulary(logits) + 18.0).bfloat16())


def wide_vocabulary(logits):
    generator = torch.Generator().manual_seed(11)
    spread = torch.randn(logits.shape[-1], 4096 // logits.shape[-1] + 1, generator=generator) * 2.5
    return (logits[..., :, None] + spread).flatten(-2)[..., :4096]


def test_paired_entropy_is_fp32_where_verls_default_is_bf16(make_rollout_tensors):
    """verl's remove-padding path computes entropy in the logits' dtype unless
    ``entropy_from_logits_with_chunking`` is set: on bf16 logits it is off by up to ~0.1 nats. The paired
    pass's entropies are fp32 whatever the engine's setting; with the setting, verl's are too."""
    model = Bf16LogitsLM()
    data, td = make_micro_batch(make_rollout_tensors, [3, 5, 2, 4], [4, 1, 6, 3], 1.0, use_remove_padding=True)
    engine = make_engine(model)
    mask = data.batch["response_mask"].bool()
    _, output = paired_forward_step(engine, td, None, True, chunk_size=7)
    raw_inputs, output_args = engine.prepare_model_inputs(micro_batch=td)
    logits = model(**raw_inputs).logits  # the bf16 logits both paths see
    reference = torch.special.entr(torch.softmax(logits.double(), -1)).sum(-1).squeeze(0)
    reference = no_padding_2_padding(positions_to_jagged(reference, td["input_ids"].offsets()), td)
    ours = no_padding_2_padding(output["model_output"]["entropy"], td).double()
    assert (ours[mask] - reference[mask]).abs().max() < 1e-4
    bf16_default = engine.prepare_model_outputs(model(**raw_inputs), output_args, td, None)["entropy"]
    bf16_default = no_padding_2_padding(bf16_default, td).double()
    assert (bf16_default[mask] - reference[mask]).abs().max() > 1e-2
    engine.engine_config = SimpleNamespace(entropy_checkpointing=False, entropy_from_logits_with_chunking=True,
                                           entropy_from_logits_chunk_size=4)
    engine.compute_entropy_from_logits = verl_F.entropy_from_logits_with_chunking
    chunked = engine.prepare_model_outputs(model(**raw_inputs), output_args, td, None)["entropy"]
    chunked = no_padding_2_padding(chunked, td).double()
    assert (chunked[mask] - reference[mask]).abs().max() < 1e-4


def test_packed_and_padded_layouts_agree(make_rollout_tensors):
    model = PerTokenVisionLM()
    outputs = {}
    for packed in (False, True):
        data, td = make_micro_batch(make_rollout_tensors, [2, 6, 4], [5, 2, 3], 1.0, packed, seed=5)
        _, output = paired_forward_step(make_engine(model), td, None, True, chunk_size=2)
        outputs[packed] = {k: no_padding_2_padding(v, td) for k, v in output["model_output"].items()}
    for key in outputs[True]:
        torch.testing.assert_close(outputs[True][key], outputs[False][key], rtol=1e-5, atol=1e-6, msg=key)


def test_paired_forward_step_is_inference_only(make_rollout_tensors):
    data, td = make_micro_batch(make_rollout_tensors, [2], [2], 1.0, False)
    with pytest.raises(RuntimeError, match="inference only"):
        paired_forward_step(make_engine(PerTokenVisionLM()), td, None, False, chunk_size=2)


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
    with pytest.raises(ValueError, match="one sampling temperature"):
        scalar_temperature(torch.tensor([0.5, 1.0]))
