"""The one worker method VOGUE adds to verl: raw and noisy forwards plus the full-vocabulary KL.

``kl_estimator=full`` (and ``forward_full``) needs the logits of both branches at every response
position; full logits never leave verl's engine, so the comparison happens inside the worker. For each
micro-batch ``paired_forward_step`` runs the model twice (raw ``multi_modal_inputs``, then the row's
``noisy_multi_modal_inputs``), lets verl's own ``prepare_model_outputs`` turn each output into
log-probs, and computes per position, chunked, in fp32: u_per,t = ½[KL(p‖q) + KL(q‖p)] (or KL(p‖q)
for ``forward_full``) and both branches' entropies (``uncertainty``). verl's own entropy is computed in
the logits' dtype (bf16 on GPU) unless ``entropy_from_logits_with_chunking`` is set, and then only
with ``use_remove_padding``; u_out must be as precise as u_per. Two forwards per row, the cost of the
sampled estimators.

Layouts: with ``use_remove_padding`` the logits are packed ``[1, total_tokens (+pad), V]``; without it
they are padded ``[batch, max_len, V]``. ``positions_to_jagged`` maps either to verl's per-sequence
jagged layout, so the KL leaves the worker exactly like verl's entropy.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import torch
from tensordict import TensorDict

from verl.single_controller.base.decorator import make_nd_compute_dataproto_dispatch_fn, register
from verl.utils import tensordict_utils as tu
from verl.utils.device import get_device_id, get_device_name
from verl.utils.model import extract_multi_modal_inputs
from verl.workers.engine_workers import ActorRolloutRefWorker

from recipe.vogue.uncertainty import DEFAULT_CHUNK_SIZE, entropy_from_logits, kl_from_logits
from recipe.vogue.verl_patches import patch_qwen2_vl_text_only_batches

__all__ = ["NOISY_INPUTS_KEY", "CHUNK_SIZE_KEY", "ESTIMATOR_KEY", "PAIRED_OUTPUT_KEYS", "positions_to_jagged",
           "scalar_temperature", "paired_forward_step", "VogueActorRolloutRefWorker"]

NOISY_INPUTS_KEY = "noisy_multi_modal_inputs"
CHUNK_SIZE_KEY = "vogue_kl_chunk_size"
ESTIMATOR_KEY = "vogue_kl_estimator"
PAIRED_OUTPUT_KEYS = ("log_probs", "entropy", "noisy_log_probs", "noisy_entropy", "u_per")


def positions_to_jagged(values: torch.Tensor, cu_seqlens: torch.Tensor) -> torch.Tensor:
    """Per-position values → verl's jagged per-sequence layout (offsets ``cu_seqlens``).

    - packed (1-D ``[total_tokens]``, pad already stripped): sequence i is values[cu[i]:cu[i+1]];
    - padded (2-D ``[batch, max_len]``, right-padded): sequence i is values[i, :cu[i+1] − cu[i]].
    """
    lengths = cu_seqlens.diff()
    if values.dim() == 2:
        if values.shape[0] != lengths.numel() or values.shape[1] < int(lengths.max()):
            raise ValueError(f"padded values {tuple(values.shape)} do not hold sequences of lengths {lengths.tolist()}")
        keep = torch.arange(values.shape[1], device=values.device) < lengths.to(values.device)[:, None]
        values = values[keep]
    elif values.dim() != 1:
        raise ValueError(f"values must be packed [tokens] or padded [batch, len], got {tuple(values.shape)}")
    if values.numel() != int(cu_seqlens[-1]):
        raise ValueError(f"{values.numel()} packed values for {int(cu_seqlens[-1])} tokens")
    return torch.nested.nested_tensor_from_jagged(values, cu_seqlens.to(values.device))


def scalar_temperature(temperature) -> float:
    """verl passes one temperature per batch (a float or a constant tensor); the KL needs it as a float."""
    if isinstance(temperature, torch.Tensor):
        values = temperature.float().unique()
        if values.numel() != 1:
            raise ValueError(f"kl_estimator=full needs one sampling temperature per batch, got {values.tolist()}")
        return float(values)
    return float(temperature)


def _full_logits(model_output) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    logits = model_output.logits
    return logits.full_tensor() if isinstance(logits, DTensor) else logits  # vocab-sharded under TP


def paired_forward_step(
    engine, micro_batch: TensorDict, loss_function=None, forward_only=True, *, chunk_size: int, estimator: str = "full"
):
    """Replacement for ``FSDPEngineWithLMHead.forward_step`` during the paired pass (forward only)."""
    if not forward_only or loss_function is not None:
        raise RuntimeError("the paired raw/noisy forward is inference only")
    micro_batch = micro_batch.to(get_device_id())
    raw_inputs, output_args = engine.prepare_model_inputs(micro_batch=micro_batch)
    noisy_inputs = {**raw_inputs, **extract_multi_modal_inputs(micro_batch[NOISY_INPUTS_KEY])}
    autocast_dtype = getattr(engine, "_autocast_dtype", torch.bfloat16)
    autocast = (
        nullcontext() if autocast_dtype == torch.float32 else torch.autocast(get_device_name(), dtype=autocast_dtype)
    )
    log_probs_only = micro_batch.copy()
    tu.assign_non_tensor(log_probs_only, calculate_entropy=False)  # entropies below, in fp32
    with autocast:
        raw_output = engine.module(**raw_inputs, use_cache=False)
        noisy_output = engine.module(**noisy_inputs, use_cache=False)
        raw = engine.prepare_model_outputs(raw_output, output_args, log_probs_only, None)
        noisy = engine.prepare_model_outputs(noisy_output, output_args, log_probs_only, None)
    temperature = scalar_temperature(micro_batch["temperature"])
    raw_logits, noisy_logits = _full_logits(raw_output), _full_logits(noisy_output)
    per_position = {
        "entropy": entropy_from_logits(raw_logits, chunk_size, temperature),
        "noisy_entropy": entropy_from_logits(noisy_logits, chunk_size, temperature),
        "u_per": kl_from_logits(estimator, raw_logits, noisy_logits, chunk_size, temperature),
    }
    packed = tu.get_non_tensor_data(data=micro_batch, key="use_remove_padding", default=True)
    offsets = micro_batch["input_ids"].offsets()
    for key, values in per_position.items():
        if packed:
            values = engine._gather_and_unpad_packed(values.squeeze(0), output_args["pad_size"])  # SP gather + pad strip
        per_position[key] = positions_to_jagged(values, offsets)
    model_output = {"log_probs": raw["log_probs"], "noisy_log_probs": noisy["log_probs"], **per_position}
    return torch.tensor(1.0), {"model_output": model_output, "loss": 1.0, "metrics": {}}


class VogueActorRolloutRefWorker(ActorRolloutRefWorker):
    """verl's hybrid worker plus ``compute_log_prob_with_noisy_branch`` (full-vocabulary estimators), with
    ``verl_patches`` installed in its process (text-only micro-batches of Qwen2.5-VL)."""

    def __init__(self, *args, **kwargs):
        patch_qwen2_vl_text_only_batches()
        super().__init__(*args, **kwargs)

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def compute_log_prob_with_noisy_branch(self, data: TensorDict) -> TensorDict:
        """Like ``compute_log_prob`` (same micro-batching, eval mode, offload, metrics), but each
        micro-batch goes through ``paired_forward_step``; returns ``PAIRED_OUTPUT_KEYS``."""
        engine = self.actor.engine
        chunk_size = tu.pop(data, key=CHUNK_SIZE_KEY, default=DEFAULT_CHUNK_SIZE)
        estimator = tu.pop(data, key=ESTIMATOR_KEY, default="full")
        engine.forward_step = partial(paired_forward_step, engine, chunk_size=chunk_size, estimator=estimator)
        try:
            output = self.actor.infer_batch(data)
        finally:
            del engine.forward_step  # back to the class's forward_step
        return output.cpu() if output is not None else None
