"""The one worker method VOGUE adds to verl: the whole old-log-prob stage in ONE dispatch.

``compute_log_prob_with_noisy_branch`` is verl's ``compute_log_prob`` (same micro-batching, dynamic
batch size, eval mode, offload, metrics) with ``forward_step`` replaced by ``vogue_forward_step``:
within each micro-batch, rows without paired inputs get one forward under their own inputs (log-probs,
entropy), and the probed rows get a second, paired forward on the same sub-batch under their
``paired_multi_modal_inputs`` (the other branch's ``pixel_values`` and grid: the perturbed image for a
row generated from the raw one, the raw image for a row generated from a perturbed one), so both
branches' per-position values align in every layout (padded, packed, Ulysses-sliced). For the
full-vocabulary estimators u_per = ½[KL(p‖q) + KL(q‖p)] (``full``) or KL(p‖q) (``forward_full``, rows
generated from the raw image) is computed in the worker, chunked, fp32; the sampled estimators get both
log-probs and compute u_per on the driver. ``actor.freeze_vision_tower`` (declared by verl 0.9.1 but
read nowhere on its FSDP path) is applied here.

Entropies and KLs are computed in fp32 (verl's own entropy is in the logits' dtype unless
``entropy_from_logits_with_chunking``) and only at response positions (where verl reads them; all
positions under Ulysses sequence parallelism, whose slices do not keep whole sequences). Memory: the
first forward's logits are cut to the response positions and freed before the paired forward, so a
probed micro-batch of T tokens holds at most (T + T_response)·V logits (``cost_model``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import nullcontext
from functools import partial

import torch
from tensordict import TensorDict

from verl.single_controller.base.decorator import Dispatch, make_nd_compute_dataproto_dispatch_fn, register
from verl.utils import tensordict_utils as tu
from verl.utils.device import get_device_id, get_device_name
from verl.utils.model import extract_multi_modal_inputs
from verl.workers.engine_workers import ActorRolloutRefWorker

from recipe.vogue.uncertainty import DEFAULT_CHUNK_SIZE, FULL_KL_ESTIMATORS, entropy_from_logits, kl_from_logits
from recipe.vogue.verl_patches import patch_qwen2_vl_text_only_batches

__all__ = ["PAIRED_INPUTS_KEY", "CHUNK_SIZE_KEY", "ESTIMATOR_KEY", "output_keys", "positions_to_jagged",
           "response_positions", "scalar_temperature", "vogue_forward_step", "VogueActorRolloutRefWorker"]

PAIRED_INPUTS_KEY = "paired_multi_modal_inputs"
CHUNK_SIZE_KEY = "vogue_kl_chunk_size"
ESTIMATOR_KEY = "vogue_kl_estimator"
RAW_KEYS = ("log_probs", "entropy")
PAIRED_KEYS = ("paired_log_probs", "paired_entropy", "u_per")


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


def _response_lengths(micro_batch: TensorDict) -> torch.Tensor:
    """Response tokens per row, as verl's ``no_padding_2_padding`` counts them."""
    prompts = micro_batch["prompts"]
    if prompts.is_nested:
        return micro_batch["responses"].offsets().diff()
    return micro_batch["attention_mask"][:, prompts.shape[1]:].sum(dim=1)


def response_positions(micro_batch: TensorDict, logits_shape: torch.Size, packed: bool) -> torch.Tensor:
    """Bool mask over the logits' positions that predict a response token: in sequence i of length L_i with
    R_i response tokens, positions L_i − R_i − 1 … L_i − 2 (the ones ``no_padding_2_padding`` reads).
    ``logits_shape``: packed ``[1, tokens + pad, V]`` or padded ``[batch, max_len, V]``."""
    lengths = micro_batch["input_ids"].offsets().diff().to(torch.long)
    responses = _response_lengths(micro_batch).to(lengths.device)
    if packed:
        mask = torch.zeros(logits_shape[1], dtype=torch.bool)
        ends = lengths.cumsum(0)
        for end, count in zip(ends.tolist(), responses.tolist(), strict=True):
            mask[end - count - 1 : end - 1] = True
        return mask
    index = torch.arange(logits_shape[1])[None, :]
    return (index >= (lengths - responses - 1)[:, None]) & (index < (lengths - 1)[:, None])


def scalar_temperature(temperature) -> float:
    """verl passes one temperature per batch (a float or a constant tensor); the KL needs it as a float."""
    if isinstance(temperature, torch.Tensor):
        values = temperature.float().unique()
        if values.numel() != 1:
            raise ValueError(f"the noisy pass needs one sampling temperature per batch, got {values.tolist()}")
        return float(values)
    return float(temperature)


def _full_logits(model_output) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    logits = model_output.logits
    return logits.full_tensor() if isinstance(logits, DTensor) else logits  # vocab-sharded under TP


class _Positions:
    """Where per-position values are computed (response positions, or all under Ulysses SP) and how they
    return to verl's jagged layout."""

    def __init__(self, engine, micro_batch: TensorDict, output_args: dict, logits_shape: torch.Size):
        self.engine, self.output_args, self.shape = engine, output_args, logits_shape
        self.packed = tu.get_non_tensor_data(data=micro_batch, key="use_remove_padding", default=True)
        self.offsets = micro_batch["input_ids"].offsets()
        sliced = self.packed and getattr(engine, "use_ulysses_sp", False)
        self.mask = None if sliced else response_positions(micro_batch, logits_shape, self.packed)

    def select(self, logits: torch.Tensor) -> torch.Tensor:
        """[positions, V]: the logits at the computed positions (a copy, so the full logits can be freed)."""
        flat = logits.reshape(-1, logits.shape[-1])
        return flat.clone() if self.mask is None else flat[self.mask.reshape(-1).to(flat.device)]

    def to_jagged(self, values: torch.Tensor) -> torch.Tensor:
        full = values
        if self.mask is not None:
            full = values.new_zeros(self.mask.shape)
            full[self.mask.to(values.device)] = values
        else:
            full = values.reshape(self.shape[:-1])
        if self.packed:
            full = self.engine._gather_and_unpad_packed(full.reshape(-1), self.output_args["pad_size"])
        return positions_to_jagged(full, self.offsets)


def _forward_rows(engine, micro_batch: TensorDict, paired: bool, chunk_size: int, estimator: str) -> dict:
    """The forward under the rows' own inputs (and, for probed rows, the paired one) of one sub-batch:
    jagged per-row outputs."""
    raw_inputs, output_args = engine.prepare_model_inputs(micro_batch=micro_batch)
    log_probs_only = micro_batch.copy()
    tu.assign_non_tensor(log_probs_only, calculate_entropy=False)  # entropies below, fp32, response positions
    temperature = scalar_temperature(micro_batch["temperature"])
    autocast_dtype = getattr(engine, "_autocast_dtype", torch.bfloat16)
    autocast = (
        nullcontext() if autocast_dtype == torch.float32 else torch.autocast(get_device_name(), dtype=autocast_dtype)
    )
    with autocast:
        output = engine.module(**raw_inputs, use_cache=False)
        raw = engine.prepare_model_outputs(output, output_args, log_probs_only, None)
    logits = _full_logits(output)
    positions = _Positions(engine, micro_batch, output_args, logits.shape)
    raw_logits = positions.select(logits)
    del output, logits  # only the response positions of the first forward stay alive
    results = {"log_probs": raw["log_probs"],
               "entropy": positions.to_jagged(entropy_from_logits(raw_logits, chunk_size, temperature))}
    if not paired:
        return results
    paired_inputs = {**raw_inputs, **extract_multi_modal_inputs(micro_batch[PAIRED_INPUTS_KEY])}
    with autocast:
        output = engine.module(**paired_inputs, use_cache=False)
        paired_out = engine.prepare_model_outputs(output, output_args, log_probs_only, None)
    paired_logits = positions.select(_full_logits(output))
    del output
    results["paired_log_probs"] = paired_out["log_probs"]
    results["paired_entropy"] = positions.to_jagged(entropy_from_logits(paired_logits, chunk_size, temperature))
    if estimator in FULL_KL_ESTIMATORS:
        results["u_per"] = positions.to_jagged(kl_from_logits(estimator, raw_logits, paired_logits, chunk_size,
                                                              temperature))
    return results


def output_keys(estimator: str) -> tuple[str, ...]:
    """The keys EVERY micro-batch returns, whichever of its rows are probed: verl concatenates the
    micro-batches' (and data-parallel ranks') outputs key by key, so a key missing from one raw-only
    micro-batch would leave that key short of rows. u_per comes from the worker for the full-vocabulary
    estimators only (the driver computes the sampled ones from both log-probs)."""
    return RAW_KEYS + tuple(key for key in PAIRED_KEYS if key != "u_per" or estimator in FULL_KL_ESTIMATORS)


def _merge_rows(parts: list[tuple[list[int], dict]], lengths: list[int], keys: Sequence[str], device) -> dict:
    """Per-row outputs of the sub-batches → jagged tensors in micro-batch order, one per key (0 where a row
    has none: the paired keys of raw-only rows)."""
    merged = {}
    for key in keys:
        rows = [torch.zeros(length, device=device) for length in lengths]
        for indices, outputs in parts:
            if key in outputs:
                for position, values in zip(indices, outputs[key].unbind(), strict=True):
                    rows[position] = values.float()
        merged[key] = torch.nested.as_nested_tensor(rows, layout=torch.jagged)
    return merged


def freeze_vision_tower(module: torch.nn.Module) -> list[str]:
    """Stop gradients to the vision tower (``visual.*`` parameters): AdamW skips parameters without a
    gradient, so they stay as loaded. Returns the frozen names."""
    frozen = {name: parameter for name, parameter in module.named_parameters() if ".visual." in f".{name}"}
    if not frozen:
        raise ValueError("actor.freeze_vision_tower=true, but the model has no visual.* parameters")
    for parameter in frozen.values():
        parameter.requires_grad_(False)
    return list(frozen)


LOG_ROW_GROUPS_ENV = "VOGUE_LOG_ROW_GROUPS"


def log_row_groups(paired_column: Sequence) -> None:
    """With ``VOGUE_LOG_ROW_GROUPS=1``, one line per micro-batch: this rank's raw-only and probed row counts
    (how the multi-rank tests see that ranks held different row groups)."""
    if os.environ.get(LOG_ROW_GROUPS_ENV) != "1":
        return
    probed = sum(inputs is not None for inputs in paired_column)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    print(f"[vogue row groups] rank {rank} raw-only {len(paired_column) - probed} probed {probed}", flush=True)


def vogue_forward_step(engine, micro_batch: TensorDict, loss_function=None, forward_only=True, *,
                       chunk_size: int, estimator: str = "full"):
    """Replacement for ``FSDPEngineWithLMHead.forward_step`` during the old-log-prob stage (forward only)."""
    if not forward_only or loss_function is not None:
        raise RuntimeError("the VOGUE log-prob stage is inference only")
    micro_batch = micro_batch.to(get_device_id())
    paired_column = list(micro_batch[PAIRED_INPUTS_KEY])
    log_row_groups(paired_column)
    groups = [([i for i, inputs in enumerate(paired_column) if inputs is None], False),
              ([i for i, inputs in enumerate(paired_column) if inputs is not None], True)]
    parts = []
    for indices, paired in groups:
        if not indices:
            continue
        rows = micro_batch if len(indices) == len(paired_column) else tu.index_select_tensor_dict(micro_batch, indices)
        parts.append((indices, _forward_rows(engine, rows, paired, chunk_size, estimator)))
    lengths = micro_batch["input_ids"].offsets().diff().tolist()
    model_output = _merge_rows(parts, lengths, output_keys(estimator), micro_batch["input_ids"].device)
    return torch.tensor(1.0), {"model_output": model_output, "loss": 1.0, "metrics": {}}


class VogueActorRolloutRefWorker(ActorRolloutRefWorker):
    """verl's hybrid worker plus ``compute_log_prob_with_noisy_branch``, with ``verl_patches`` installed in
    its process (text-only micro-batches of Qwen2.5-VL)."""

    def __init__(self, *args, **kwargs):
        patch_qwen2_vl_text_only_batches()
        super().__init__(*args, **kwargs)

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def init_model(self):
        super().init_model()
        actor = self.config.get("actor") if hasattr(self.config, "get") else None
        if self.actor is not None and actor is not None and actor.get("freeze_vision_tower", False):
            freeze_vision_tower(self.actor.engine.module)

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def compute_log_prob_with_noisy_branch(self, data: TensorDict) -> TensorDict:
        """Like ``compute_log_prob`` (same micro-batching, eval mode, offload, metrics), but each micro-batch
        goes through ``vogue_forward_step``; returns ``output_keys(estimator)``."""
        engine = self.actor.engine
        chunk_size = tu.pop(data, key=CHUNK_SIZE_KEY, default=DEFAULT_CHUNK_SIZE)
        estimator = tu.pop(data, key=ESTIMATOR_KEY, default="full")
        engine.forward_step = partial(vogue_forward_step, engine, chunk_size=chunk_size, estimator=estimator)
        try:
            output = self.actor.infer_batch(data)
        finally:
            del engine.forward_step  # back to the class's forward_step
        return output.cpu() if output is not None else None
