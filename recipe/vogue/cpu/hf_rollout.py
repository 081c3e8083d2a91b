"""verl rollout backend "hf": Hugging Face transformers ``generate`` behind verl's server-mode rollout API.

verl 0.9.1 only ships server rollouts (vLLM, SGLang, TRT-LLM) that need a GPU. This backend plays the
same three roles with plain transformers on the host, so verl's own agent loop, LLM server client and
weight-sync path run unchanged (``actor_rollout_ref.rollout.name=hf``):

- ``HFRolloutServer`` (one Ray actor per replica, like vLLM's http server actor): token-in/token-out
  ``generate``. Concurrent requests are batched: requests that arrive within a short window and share
  sampling parameters are left-padded into one ``model.generate`` call (images concatenated in request
  order). Greedy when temperature is 0, otherwise sampled with temperature / top-p / top-k; stops at
  EOS or max_tokens; returns the sampled tokens' log-probs under log_softmax(logits / T) — the
  distribution verl's actor computes — not the top-p/top-k-filtered one. Vision placeholder and turn
  tokens are suppressed: generating one would make the next teacher-forced forward fail (its count
  of image tokens would no longer match the image features).
- ``HFReplica(RolloutReplica)``: launches that actor next to the hybrid workers (hybrid mode only).
- ``HFServerAdapter(BaseRollout)``: lives in each ``ActorRolloutRefWorker``; every rank drains the
  weight generator (FSDP2's full_tensor() is a collective) and the replica's leader rank sends the
  named CPU tensors to the server in one Ray call, where they are loaded strictly by name. LoRA runs sync
  merged weights (``actor_rollout_ref.model.lora.merge=True``, as the GPU launchers do); adapter syncs
  are refused. With ``VOGUE_HF_ROLLOUT_DUMP_DIR`` set, every sync's loaded weights are also written there
  (``sync_<version>.safetensors``), for tests that check what the rollout samples from.

Engine options: ``+actor_rollout_ref.rollout.engine_kwargs.hf.{num_threads, batch_window_ms,
max_batch_size}``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from typing import Any, Generator, Optional

import ray
import torch

from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutMode, RolloutReplica, TokenOutput

logger = logging.getLogger(__name__)

SERVER_NAME_PREFIX = "hf_server_"
DUMP_DIR_ENV = "VOGUE_HF_ROLLOUT_DUMP_DIR"
SUPPRESSED_TOKENS = ("<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


def server_name(replica_rank: int, node_rank: int = 0) -> str:
    return f"{SERVER_NAME_PREFIX}{replica_rank}_{node_rank}"


@dataclasses.dataclass(frozen=True)
class HFEngineOptions:
    """``rollout.engine_kwargs.hf``: host threads for the model, batching window and cap."""

    num_threads: int = 2
    batch_window_ms: float = 5.0
    max_batch_size: Optional[int] = None

    @classmethod
    def from_rollout_config(cls, config) -> HFEngineOptions:
        raw = dict((getattr(config, "engine_kwargs", None) or {}).get("hf", None) or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown actor_rollout_ref.rollout.engine_kwargs.hf keys {unknown}; known: {sorted(known)}")
        options = cls(**raw)
        if options.num_threads < 1 or options.batch_window_ms < 0:
            raise ValueError(f"invalid engine_kwargs.hf {raw}: num_threads >= 1 and batch_window_ms >= 0 required")
        return options


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    """The per-request sampling parameters that must agree within one batched generate call."""

    max_tokens: int
    temperature: float
    top_p: float
    top_k: int  # 0 = off
    repetition_penalty: float
    logprobs: bool

    @classmethod
    def from_request(cls, sampling_params: dict[str, Any], default_max_tokens: int) -> SamplingSettings:
        params = dict(sampling_params)
        max_tokens = params.pop("max_tokens", None) or params.pop("max_new_tokens", None) or default_max_tokens
        top_k = params.get("top_k")
        return cls(
            max_tokens=max(1, int(max_tokens)),
            temperature=float(params.get("temperature") or 0.0),
            top_p=1.0 if params.get("top_p") is None else float(params["top_p"]),
            top_k=0 if top_k is None or int(top_k) <= 0 else int(top_k),
            repetition_penalty=float(params.get("repetition_penalty") or 1.0),
            logprobs=bool(params.get("logprobs", False)),
        )

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclasses.dataclass
class _Request:
    prompt_ids: list[int]
    settings: SamplingSettings
    images: list[Any]
    future: asyncio.Future


def trim_at_eos(token_ids: list[int], eos_ids: set[int], pad_id: Optional[int]) -> list[int]:
    """Keep tokens up to and including the first EOS (as vLLM returns them); drop generate's padding."""
    kept = []
    for token in token_ids:
        kept.append(token)
        if token in eos_ids:
            return kept
    if pad_id is not None and pad_id not in eos_ids:
        while kept and kept[-1] == pad_id:
            kept.pop()
    return kept


def sampled_log_probs(step_logits: list[torch.Tensor], tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """[B, S] log-probs of ``tokens`` under log_softmax(logits / T) (T = 1 for greedy decoding)."""
    scale = temperature if temperature > 0 else 1.0
    stacked = torch.stack([logits.float() for logits in step_logits], dim=1) / scale  # [B, S, V]
    return torch.log_softmax(stacked, dim=-1).gather(-1, tokens[:, : stacked.shape[1], None]).squeeze(-1)


class HFRolloutServer:
    """Token-in/token-out generation with transformers (a Ray actor, one per rollout replica)."""

    def __init__(self, config, model_config, replica_rank: int = 0, node_rank: int = 0):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig, RolloutConfig

        self.config: RolloutConfig = omega_conf_to_dataclass(config, dataclass_type=RolloutConfig)
        self.model_config: HFModelConfig = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.options = HFEngineOptions.from_rollout_config(self.config)
        torch.set_num_threads(self.options.num_threads)
        self.replica_rank = replica_rank
        path = self.model_config.local_path
        hf_config = AutoConfig.from_pretrained(path, trust_remote_code=self.model_config.trust_remote_code)
        self.is_multimodal = hasattr(hf_config, "vision_config")
        model_cls = AutoModelForImageTextToText if self.is_multimodal else AutoModelForCausalLM
        dtype = getattr(torch, self.config.dtype) if isinstance(self.config.dtype, str) else self.config.dtype
        self.model = model_cls.from_pretrained(
            path, dtype=dtype, attn_implementation="sdpa", trust_remote_code=self.model_config.trust_remote_code
        ).eval()
        self.processor = AutoProcessor.from_pretrained(path) if self.is_multimodal else None
        tokenizer = self.model_config.tokenizer
        generation_eos = self.model.generation_config.eos_token_id
        generation_eos = generation_eos if isinstance(generation_eos, list) else [generation_eos]
        self.eos_ids = {t for t in [tokenizer.eos_token_id, *generation_eos] if t is not None}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.suppressed_ids = sorted(
            {tid for tid in (tokenizer.convert_tokens_to_ids(t) for t in SUPPRESSED_TOKENS)
             if isinstance(tid, int) and tid != tokenizer.unk_token_id} - self.eos_ids
        )
        self.max_model_len = self.config.max_model_len or (self.config.prompt_length + self.config.response_length)
        self.max_batch_size = self.options.max_batch_size or self.config.max_num_seqs
        self.global_steps = None
        self.weight_version = 0
        # Like vLLM with free_cache_engine, a sleeping replica has no weights until the next sync: generating
        # then is an error here too, so the CPU runs catch a generation the trainer did not wake the replicas for.
        self.asleep = False
        self._model_lock = threading.Lock()  # generation and weight loads never overlap
        self._pending: list[_Request] = []
        self._batcher: Optional[asyncio.Task] = None
        self.batch_sizes: list[int] = []

    # ---- control surface called by RolloutReplica / CheckpointEngineManager / the agent loop ----
    def get_server_address(self):
        return ray.util.get_node_ip_address(), 0

    async def wake_up(self, tags: Optional[list[str]] = None):
        self.asleep = False

    async def sleep(self):
        self.asleep = bool(self.config.free_cache_engine)

    async def clear_kv_cache(self):
        return None

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False):
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self):
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None

    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    # ---- weights ----
    def load_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: Optional[int] = None) -> dict:
        """Copy a full set of named tensors into the model, strictly by name (HF state_dict names)."""
        own = self.model.state_dict(keep_vars=True)
        unknown = sorted(set(named_tensors) - set(own))
        missing = sorted({name for name, _ in self.model.named_parameters()} - set(named_tensors))
        if unknown or missing:
            raise ValueError(
                f"hf rollout weight sync: {len(unknown)} unknown tensor names (e.g. {unknown[:3]}) and "
                f"{len(missing)} model parameters not sent (e.g. {missing[:3]})"
            )
        with self._model_lock, torch.no_grad():
            for name, tensor in named_tensors.items():
                target = own[name]
                if target.shape != tensor.shape:
                    raise ValueError(f"hf rollout weight sync: {name} has shape {tuple(tensor.shape)}, model {tuple(target.shape)}")
                target.copy_(tensor.to(target.dtype))
        self.weight_version += 1
        self.asleep = False
        if os.environ.get(DUMP_DIR_ENV):
            from safetensors.torch import save_file

            os.makedirs(os.environ[DUMP_DIR_ENV], exist_ok=True)
            save_file({name: tensor.detach().clone().contiguous() for name, tensor in self.model.state_dict().items()},
                      os.path.join(os.environ[DUMP_DIR_ENV], f"sync_{self.weight_version}.safetensors"),
                      metadata={"global_steps": str(global_steps)})
        if global_steps is not None:
            self.global_steps = global_steps
        print(f"[hf-rollout] replica {self.replica_rank}: loaded {len(named_tensors)} tensors, weight version "
              f"{self.weight_version}, global step {global_steps}", flush=True)
        return {"loaded": len(named_tensors), "weight_version": self.weight_version}

    async def update_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: Optional[int] = None) -> dict:
        return await asyncio.to_thread(self.load_weights, named_tensors, global_steps)

    def state_checksum(self) -> dict[str, float]:
        """Per-parameter float64 sums, for checking a weight sync from outside the actor."""
        with torch.no_grad():
            return {name: float(p.double().sum()) for name, p in self.model.named_parameters()}

    # ---- generation ----
    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Optional[list[Any]] = None,
        video_data: Optional[list[Any]] = None,
        audio_data: Optional[list[Any]] = None,
        mm_processor_kwargs: Optional[dict] = None,
        priority: int = 0,
        **kwargs,
    ) -> TokenOutput:
        if self.asleep:
            raise RuntimeError(f"request {request_id}: replica {self.replica_rank} is asleep (its weights are freed "
                               "until the next weight sync); wake it with checkpoint_manager.update_weights first")
        if video_data or audio_data:
            raise NotImplementedError("the hf rollout supports text and images only (no video or audio)")
        if image_data and not self.is_multimodal:
            raise ValueError(f"request {request_id} has images but {self.model_config.local_path} is not multimodal")
        budget = self.max_model_len - len(prompt_ids)
        if budget < 1:
            raise ValueError(f"request {request_id}: prompt of {len(prompt_ids)} tokens leaves no room (max_model_len {self.max_model_len})")
        settings = SamplingSettings.from_request(sampling_params, self.config.response_length)
        settings = dataclasses.replace(settings, max_tokens=min(settings.max_tokens, budget))
        request = _Request(list(prompt_ids), settings, list(image_data or []), asyncio.get_running_loop().create_future())
        self._pending.append(request)
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._serve_pending())
        token_ids, log_probs = await request.future
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def _serve_pending(self) -> None:
        while self._pending:
            # let concurrent requests of the same agent-loop wave arrive before building a batch
            seen = -1
            while seen != len(self._pending) and len(self._pending) < self.max_batch_size:
                seen = len(self._pending)
                await asyncio.sleep(self.options.batch_window_ms / 1000.0)
            settings = self._pending[0].settings
            batch = [r for r in self._pending if r.settings == settings][: self.max_batch_size]
            self._pending = [r for r in self._pending if all(r is not b for b in batch)]
            try:
                results = await asyncio.to_thread(self.generate_batch, [(r.prompt_ids, r.images) for r in batch], settings)
            except Exception as error:  # deliver the failure to every waiting request
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            for request, result in zip(batch, results):
                if not request.future.done():
                    request.future.set_result(result)

    def _model_inputs(self, prompts: list[tuple[list[int], list[Any]]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, (ids, _) in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        images = [image for _, request_images in prompts for image in request_images]
        if images:
            processed = self.processor.image_processor(images=images, return_tensors="pt")
            merge = self.processor.image_processor.merge_size**2
            expected = int(processed["image_grid_thw"].prod(-1).sum()) // merge
            present = int((input_ids == self.model.config.image_token_id).sum())
            if present != expected:
                raise ValueError(f"hf rollout: the prompts hold {present} image tokens but the images give {expected} features")
            inputs["pixel_values"] = processed["pixel_values"].to(self.model.dtype)
            inputs["image_grid_thw"] = processed["image_grid_thw"]
            # transformers 5 computes Qwen2.5-VL's and Qwen3-VL's 3D (M-RoPE) positions only when it gets
            # these types (Qwen2.5-VL silently falls back to text positions, which is not what verl's actor
            # computes; Qwen3-VL refuses); verl's agent loop derives the actor's positions the same way.
            inputs["mm_token_type_ids"] = torch.tensor(self.processor.create_mm_token_type_ids(input_ids.tolist()))
        return inputs

    def _generation_config(self, settings: SamplingSettings):
        from transformers import GenerationConfig

        sampling = {} if settings.greedy else dict(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
        return GenerationConfig(
            max_new_tokens=settings.max_tokens,
            do_sample=not settings.greedy,
            repetition_penalty=settings.repetition_penalty,
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.pad_id,
            suppress_tokens=self.suppressed_ids or None,
            return_dict_in_generate=True,
            output_logits=settings.logprobs,
            **sampling,
        )

    @torch.no_grad()
    def generate_batch(self, prompts: list[tuple[list[int], list[Any]]], settings: SamplingSettings):
        """Generate for several prompts at once; returns [(token_ids, log_probs or None)] in order."""
        inputs = self._model_inputs(prompts)
        with self._model_lock:
            out = self.model.generate(**inputs, generation_config=self._generation_config(settings))
        self.batch_sizes.append(len(prompts))
        generated = out.sequences[:, inputs["input_ids"].shape[1] :]
        log_probs = sampled_log_probs(list(out.logits), generated, settings.temperature) if settings.logprobs else None
        results = []
        for row in range(len(prompts)):
            tokens = trim_at_eos(generated[row].tolist(), self.eos_ids, self.pad_id)
            results.append((tokens, log_probs[row, : len(tokens)].tolist() if log_probs is not None else None))
        return results


class HFReplica(RolloutReplica):
    """One ``HFRolloutServer`` actor per replica, placed on the node of the replica's first hybrid worker."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self):
        if self.rollout_mode != RolloutMode.HYBRID:
            raise NotImplementedError(f"the hf rollout runs in hybrid mode only, not {self.rollout_mode}")
        if self.world_size != 1:
            raise NotImplementedError(
                f"the hf rollout has no tensor/data/pipeline parallelism (rollout world size {self.world_size}); "
                "set actor_rollout_ref.rollout.tensor_model_parallel_size=1"
            )
        node_id = await self.workers[0].__ray_call__.remote(lambda worker: ray.get_runtime_context().get_node_id())
        server = (
            ray.remote(HFRolloutServer)
            .options(
                name=server_name(self.replica_rank),
                max_concurrency=self.max_concurrency,
                num_cpus=0,  # shares the node's cores with the trainer, as vLLM shares GPUs in hybrid mode
                scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
            )
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        )
        address, port = await server.get_server_address.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{address}:{port}"


class HFServerAdapter(BaseRollout):
    """The rollout object inside each hybrid worker: forwards weight updates to the replica's server."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1, **kwargs):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.is_leader = rank % world == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    @torch.no_grad()
    async def update_weights(
        self,
        weights: Generator[tuple[str, torch.Tensor], None, None],
        wire_format: str = "named_tensors",
        peft_config=None,
        global_steps: Optional[int] = None,
        **kwargs,
    ):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout receives full named tensors, not {wire_format!r}")
        if peft_config is not None:
            raise NotImplementedError("the hf rollout receives merged LoRA weights, not adapters (as the launchers sync "
                                      "them); set actor_rollout_ref.model.lora.merge=True")
        start = time.time()
        named = {}
        for name, tensor in weights:  # every rank iterates: full_tensor() is a collective
            if self.is_leader:
                named[name] = tensor.detach().to("cpu", copy=True)
        if self.is_leader:
            result = await self._server_handle().update_weights.remote(named, global_steps)
            logger.info("hf rollout: synced %d tensors in %.2fs (version %s)", len(named), time.time() - start, result)
