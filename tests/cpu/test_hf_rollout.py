"""The hf rollout server on both tiny architectures (Qwen2.5-VL and Qwen3-VL): batched greedy generation
against a teacher-forced reference's argmax, log-probs against teacher forcing with the positions verl's actor uses,
suppression, batching, limits, weight sync; then the adapter and the replica."""

import asyncio
from types import SimpleNamespace

import pytest
import torch

from recipe.vogue.cpu.hf_rollout import (
    HFEngineOptions,
    HFReplica,
    HFRolloutServer,
    HFServerAdapter,
    SamplingSettings,
    sampled_log_probs,
    trim_at_eos,
)

QUESTIONS = ["What colour is the shape?", "Which shape is bigger, the red one or the blue one?", "What colour?"]
MODEL_DIRS = {"qwen2_5_vl": "tiny_model_dir", "qwen3_vl": "tiny_qwen3_vl_model_dir"}


def make_server(model_dir, response_length=12, **hf_options):
    from verl.workers.config import HFModelConfig, RolloutConfig

    rollout = RolloutConfig(
        name="hf", prompt_length=160, response_length=response_length, dtype="float32",
        tensor_model_parallel_size=1, engine_kwargs={"hf": {"num_threads": 1, **hf_options}},
    )
    return HFRolloutServer(config=rollout, model_config=HFModelConfig(path=model_dir))


@pytest.fixture(scope="module", params=sorted(MODEL_DIRS))
def model_dir(request):
    """Every test runs once per tiny architecture."""
    return request.getfixturevalue(MODEL_DIRS[request.param])


@pytest.fixture(scope="module")
def server(model_dir):
    return make_server(model_dir)


def prompt_ids(server, question, images):
    """Token ids as verl's agent loop sends them: chat template applied, image pads expanded."""
    content = [{"type": "image"} for _ in images] + [{"type": "text", "text": question}]
    text = server.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
    return server.processor(text=[text], images=images or None, return_tensors="pt")["input_ids"][0].tolist()


def single_inputs(server, ids, images):
    """Canonical single-sequence inputs, built the way the processor builds them (no padding, no batching)."""
    input_ids = torch.tensor([ids])
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    if images:
        inputs.update(server.processor.image_processor(images=images, return_tensors="pt"))
        inputs["mm_token_type_ids"] = (input_ids == server.model.config.image_token_id).long()
    return inputs


@torch.no_grad()
def argmax_gaps(server, ids, images, response):
    """Per response token, teacher-forced in one full forward: how far its logit lies below the best unsuppressed
    one (0 for a greedy choice, up to the rounding between the server's batched, cached forward and this one)."""
    inputs = single_inputs(server, ids + response, images)
    logits = server.model(**inputs).logits[0, len(ids) - 1 : len(ids) - 1 + len(response)].float()
    logits[:, server.suppressed_ids] = float("-inf")
    return logits.max(-1).values - logits.gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


@torch.no_grad()
def teacher_forced_log_probs(server, ids, images, response, temperature):
    inputs = single_inputs(server, ids + response, images)
    logits = server.model(**inputs).logits[0, len(ids) - 1 : len(ids) - 1 + len(response)].float()
    logits = logits / (temperature if temperature > 0 else 1.0)
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


def run(coroutines):
    async def gather():
        return await asyncio.gather(*coroutines)

    return asyncio.run(gather())


def test_batched_greedy_picks_the_references_argmax(server, shape_images):
    requests = [(prompt_ids(server, q, [img]), [img]) for q, img in zip(QUESTIONS, shape_images)]
    requests.append((prompt_ids(server, "Say something.", []), []))  # a text-only prompt in the same batch
    params = {"temperature": 0, "logprobs": True, "max_tokens": 10}
    before = len(server.batch_sizes)
    outputs = run([server.generate(ids, params, f"r{i}", image_data=imgs) for i, (ids, imgs) in enumerate(requests)])
    assert server.batch_sizes[before:] == [len(requests)]  # concurrent requests were served as one batch
    for (ids, imgs), out in zip(requests, outputs):
        # each token the argmax of the reference's logits (a near-tie may round either way on another CPU)
        assert (argmax_gaps(server, ids, imgs, out.token_ids) <= 1e-4).all()
        eos = [token in server.eos_ids for token in out.token_ids]
        assert not any(eos[:-1]) and (eos[-1] or len(eos) == 10)  # stopped at the first EOS or at max_tokens
        expected = teacher_forced_log_probs(server, ids, imgs, out.token_ids, 0)
        torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=2e-5, rtol=1e-5)


def test_sampling_uses_temperature_and_never_emits_suppressed_tokens(server, shape_images):
    server.model.generation_config.do_sample = False  # the request's parameters must win over model defaults
    ids = prompt_ids(server, QUESTIONS[0], shape_images[:1])
    params = {"temperature": 0.7, "top_p": 1.0, "top_k": -1, "logprobs": True, "max_tokens": 12}
    torch.manual_seed(0)
    outputs = run([server.generate(ids, params, f"s{i}", image_data=shape_images[:1]) for i in range(16)])
    sequences = {tuple(out.token_ids) for out in outputs}
    assert len(sequences) > 1  # sampled, not greedy
    emitted = {token for out in outputs for token in out.token_ids}
    assert not emitted & set(server.suppressed_ids)
    for out in outputs[:4]:
        expected = teacher_forced_log_probs(server, ids, shape_images[:1], out.token_ids, 0.7)
        torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=2e-5, rtol=1e-5)


def test_image_tokens_get_3d_positions(server, shape_images):
    """Without mm_token_type_ids transformers falls back to 1D text positions (Qwen2.5-VL) or refuses
    (Qwen3-VL); the server passes them, so image tokens get their 3D positions."""
    ids = prompt_ids(server, QUESTIONS[0], shape_images[:1])
    inputs = single_inputs(server, ids, shape_images[:1])
    with torch.no_grad():
        with_types = server.model(**inputs).logits[0, -1]
        served = server.model(**server._model_inputs([(ids, shape_images[:1])])).logits[0, -1]
        inputs.pop("mm_token_type_ids")
        if server.model.config.model_type == "qwen3_vl":
            with pytest.raises(ValueError, match="mm_token_type_ids"):
                server.model(**inputs)
        else:
            assert not torch.allclose(with_types, server.model(**inputs).logits[0, -1], atol=1e-6)
    torch.testing.assert_close(served, with_types, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def actor_log_probs(server, verl_processor, ids, images, response, temperature):
    """Log-probs of ``response`` as verl's actor computes them: position ids from the agent loop's own
    ``_compute_position_ids`` (text row + the model's 3D rope index, bound to the processor by verl's
    ``hf_processor``), fed as the (4, batch, seq) tensor the FSDP engine passes on the padded path."""
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    input_ids = torch.tensor([ids + response])
    attention_mask = torch.ones_like(input_ids)
    multi_modal_inputs = {"mm_token_type_ids": verl_processor.create_mm_token_type_ids(input_ids.tolist())}
    if images:
        multi_modal_inputs.update(verl_processor.image_processor(images=images, return_tensors="pt"))
    position_ids = AgentLoopWorker._compute_position_ids(
        SimpleNamespace(processor=verl_processor), input_ids, attention_mask, dict(multi_modal_inputs)
    )
    assert position_ids.shape == (1, 4, input_ids.shape[1])
    model_inputs = {k: v for k, v in multi_modal_inputs.items() if k in ("pixel_values", "image_grid_thw")}
    logits = server.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids.transpose(0, 1),
                          **model_inputs).logits[0, len(ids) - 1 : len(ids) - 1 + len(response)].float()
    logits = logits / (temperature if temperature > 0 else 1.0)
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


def test_rollout_log_probs_match_verls_actor_positions(server, model_dir, shape_images):
    """The log-probs the server returns are the ones verl's actor recomputes (training/rollout_probs_diff
    stays ~0): same 3D positions for image tokens, text positions for text-only prompts, in one batch."""
    from verl.utils import hf_processor

    verl_processor = hf_processor(model_dir)
    requests = [(prompt_ids(server, q, [img]), [img]) for q, img in zip(QUESTIONS, shape_images)]
    requests.append((prompt_ids(server, "Say something.", []), []))
    params = {"temperature": 1.0, "top_p": 1.0, "logprobs": True, "max_tokens": 12}
    torch.manual_seed(0)
    outputs = run([server.generate(ids, params, f"a{i}", image_data=imgs) for i, (ids, imgs) in enumerate(requests)])
    for (ids, imgs), out in zip(requests, outputs):
        expected = actor_log_probs(server, verl_processor, ids, imgs, out.token_ids, 1.0)
        torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=2e-5, rtol=1e-5)


def test_random_model_would_emit_the_suppressed_tokens(server, shape_images):
    """Guards the previous test: without suppression these tokens do carry probability mass."""
    inputs = single_inputs(server, prompt_ids(server, QUESTIONS[0], shape_images[:1]), shape_images[:1])
    with torch.no_grad():
        probs = torch.softmax(server.model(**inputs).logits[0, -1], -1)
    assert float(probs[server.suppressed_ids].sum()) > 0.005


def test_requests_with_different_sampling_are_batched_separately(server, shape_images):
    ids = prompt_ids(server, QUESTIONS[0], shape_images[:1])
    before = len(server.batch_sizes)
    greedy = {"temperature": 0, "max_tokens": 4}
    sampled = {"temperature": 1.0, "max_tokens": 4}
    outs = run([server.generate(ids, p, f"m{i}", image_data=shape_images[:1]) for i, p in enumerate([greedy, sampled, greedy])])
    assert sorted(server.batch_sizes[before:]) == [1, 2]
    assert outs[0].token_ids == outs[2].token_ids and outs[0].log_probs is None
    assert all(1 <= len(out.token_ids) <= 4 for out in outs)


def test_max_tokens_is_capped_by_the_model_length(model_dir, shape_images):
    server = make_server(model_dir, response_length=4)
    ids = prompt_ids(server, QUESTIONS[0], shape_images[:1])
    server.max_model_len = len(ids) + 3
    (out,) = run([server.generate(ids, {"temperature": 0, "max_tokens": 50}, "cap", image_data=shape_images[:1])])
    assert len(out.token_ids) <= 3
    with pytest.raises(ValueError, match="leaves no room"):
        run([server.generate(ids + [1, 2, 3], {"temperature": 0}, "long", image_data=shape_images[:1])])


def test_unsupported_requests_fail_clearly(server, shape_images):
    ids = prompt_ids(server, QUESTIONS[0], shape_images[:1])
    with pytest.raises(NotImplementedError, match="no video"):
        run([server.generate(ids, {}, "v", video_data=[object()])])
    with pytest.raises(ValueError, match="image tokens"):  # prompt expanded for one image, two images sent
        run([server.generate(ids, {"temperature": 0}, "x", image_data=shape_images[:2])])


def test_a_sleeping_replica_refuses_to_generate_until_the_next_weight_sync(model_dir, shape_images):
    # vLLM with free_cache_engine frees its weights in sleep(): a generation the trainer did not wake the
    # replicas for (e.g. a dynamic-sampling refill) must fail on CPU too, not silently work
    server = make_server(model_dir)
    ids = prompt_ids(server, QUESTIONS[0], shape_images[:1])
    asyncio.run(server.sleep())
    with pytest.raises(RuntimeError, match="asleep"):
        run([server.generate(ids, {"temperature": 0}, "a", image_data=shape_images[:1])])
    asyncio.run(server.update_weights(dict(server.model.state_dict()), global_steps=1))
    assert run([server.generate(ids, {"temperature": 0}, "b", image_data=shape_images[:1])])[0].token_ids


def test_weight_sync_loads_every_tensor_by_name(model_dir):
    from recipe.vogue.cpu import tiny

    server = make_server(model_dir)
    other = tiny.build_model(server.model_config.tokenizer, seed=123, arch=server.model.config.model_type)
    new_state = {name: tensor.clone() for name, tensor in other.state_dict().items()}
    version = server.weight_version
    result = asyncio.run(server.update_weights(new_state, global_steps=7))
    assert result["loaded"] == len(new_state) and server.weight_version == version + 1 and server.global_steps == 7
    for name, tensor in server.model.state_dict().items():
        torch.testing.assert_close(tensor, new_state[name], rtol=0, atol=0)
    checksum = server.state_checksum()
    assert checksum["lm_head.weight"] == pytest.approx(float(new_state["lm_head.weight"].double().sum()))

    with pytest.raises(ValueError, match="unknown tensor names"):
        server.load_weights({**new_state, "model.bogus.weight": torch.zeros(1)})
    partial = dict(new_state)
    partial.pop("lm_head.weight")
    with pytest.raises(ValueError, match="not sent"):
        server.load_weights(partial)
    with pytest.raises(ValueError, match="has shape"):
        server.load_weights({**new_state, "lm_head.weight": torch.zeros(2, 2)})


def test_sampling_settings_from_request():
    settings = SamplingSettings.from_request({"temperature": None, "top_k": -1, "top_p": None}, default_max_tokens=9)
    assert settings == SamplingSettings(9, 0.0, 1.0, 0, 1.0, False) and settings.greedy
    settings = SamplingSettings.from_request({"temperature": 0.6, "top_p": 0.95, "top_k": 20, "max_tokens": 3, "logprobs": 1}, 9)
    assert (settings.max_tokens, settings.top_k, settings.logprobs, settings.greedy) == (3, 20, True, False)


def test_engine_options_reject_unknown_keys():
    class Config:
        engine_kwargs = {"hf": {"num_thread": 2}}

    with pytest.raises(ValueError, match="unknown actor_rollout_ref.rollout.engine_kwargs.hf keys \\['num_thread'\\]"):
        HFEngineOptions.from_rollout_config(Config)
    Config.engine_kwargs = {"vllm": {}}
    assert HFEngineOptions.from_rollout_config(Config) == HFEngineOptions()


def test_trim_at_eos_and_sampled_log_probs():
    assert trim_at_eos([5, 6, 2, 0, 0], eos_ids={2}, pad_id=0) == [5, 6, 2]
    assert trim_at_eos([5, 6, 0, 0], eos_ids={2}, pad_id=0) == [5, 6]
    assert trim_at_eos([5, 6, 7], eos_ids={2}, pad_id=None) == [5, 6, 7]
    logits = [torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[3.0, 0.0, 0.0]])]
    tokens = torch.tensor([[2, 0]])
    expected = torch.tensor([[torch.log_softmax(torch.tensor([0.0, 0.5, 1.0]), -1)[2], torch.log_softmax(torch.tensor([1.5, 0.0, 0.0]), -1)[0]]])
    torch.testing.assert_close(sampled_log_probs(logits, tokens, temperature=2.0), expected)


class _RecordingServer:
    def __init__(self):
        self.calls = []

    class _Method:
        def __init__(self, calls):
            self.calls = calls

        async def remote(self, named, global_steps):
            self.calls.append((named, global_steps))
            return {"loaded": len(named)}

    @property
    def update_weights(self):
        return self._Method(self.calls)


def make_adapter(monkeypatch, rank):
    from verl.workers.config import HFModelConfig, RolloutConfig

    monkeypatch.setenv("RANK", str(rank))
    adapter = HFServerAdapter.__new__(HFServerAdapter)
    HFServerAdapter.__init__(
        adapter, RolloutConfig(name="hf", tensor_model_parallel_size=1, prompt_length=8, response_length=8),
        HFModelConfig.__new__(HFModelConfig), None,
    )
    adapter._server = _RecordingServer()
    return adapter


def test_adapter_leader_sends_all_tensors_and_every_rank_drains(monkeypatch):
    drained = []

    def weights():
        for name in ("a", "b"):
            drained.append(name)
            yield name, torch.ones(2)

    leader = make_adapter(monkeypatch, rank=0)
    asyncio.run(leader.update_weights(weights(), global_steps=3))
    (sent, steps), = leader._server.calls
    assert sorted(sent) == ["a", "b"] and steps == 3
    # with one rank per replica every rank leads its own replica; a non-leader drains without sending
    follower = make_adapter(monkeypatch, rank=0)
    follower.is_leader = False
    asyncio.run(follower.update_weights(weights()))
    assert follower._server.calls == [] and drained == ["a", "b", "a", "b"]
    with pytest.raises(NotImplementedError, match="delta_flush"):
        asyncio.run(leader.update_weights(weights(), wire_format="delta_flush"))
    with pytest.raises(NotImplementedError, match="LoRA"):
        asyncio.run(leader.update_weights(weights(), peft_config={"r": 8}))


def test_replica_rejects_setups_it_cannot_serve():
    from verl.workers.config import RolloutConfig
    from verl.workers.rollout.replica import RolloutMode

    replica = HFReplica(0, RolloutConfig(name="hf", tensor_model_parallel_size=1, prompt_length=8, response_length=8), None, 1)
    replica.rollout_mode = RolloutMode.STANDALONE
    with pytest.raises(NotImplementedError, match="hybrid mode only"):
        asyncio.run(replica.launch_servers())
    tp2 = HFReplica(0, RolloutConfig(name="hf", tensor_model_parallel_size=2, prompt_length=8, response_length=8), None, 2)
    tp2.rollout_mode = RolloutMode.HYBRID
    with pytest.raises(NotImplementedError, match="tensor_model_parallel_size=1"):
        asyncio.run(tp2.launch_servers())
