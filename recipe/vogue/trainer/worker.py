"""The one worker method VOGUE adds to verl: the whole old-log-prob stage in ONE dispatch.

``compute_log_prob_with_noisy_branch`` is verl's ``compute_log_prob`` (same micro-batching, dynamic
batch size, eval mode, offload, metrics) with ``forward_step`` replaced by ``vogue_forward_step``:
within each micro-batch, one forward over every row under its own inputs (log-probs, entropy), then one
paired forward over the probed rows under their ``paired_multi_modal_inputs`` (the other branch's
``pixel_values`` and grid: the perturbed image for a row generated from the raw one, the raw image for a
row generated from a perturbed one), so both branches' per-position values align in every layout (padded,
packed, Ulysses-sliced). A rank without a probed row runs a discarded one-row forward when another rank
runs a paired one, so that every data-parallel rank runs the same collectives (``vogue_forward_step``
states the guarantee). For the full-vocabulary estimators u_per = ½[KL(p‖q) + KL(q‖p)] (``full``) or
KL(p‖q) (``forward_full``, rows generated from the raw image) is computed in the worker, chunked, fp32; the
sampled estimators get both log-probs and compute u_per on the driver. ``actor.freeze_vision_tower``
(declared by verl 0.9.1 but read nowhere on its FSDP path) is applied here.

Entropies and KLs are computed in fp32 (verl's own entropy is in the logits' dtype unless
``entropy_from_logits_with_chunking``) and only at response positions (where verl reads them; all
positions under Ulysses sequence parallelism, whose slices do not keep whole sequences), chunk by chunk
from the forward's logits. Memory: of the first forward's logits only the probed rows' response positions
are kept, so a micro-batch of T tokens holds at most T·V + R_probed·V logits (``cost_model``).
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

from recipe.vogue.core.uncertainty import DEFAULT_CHUNK_SIZE, FULL_KL_ESTIMATORS, measure_at_positions
from recipe.vogue.core.vocab_math import entropy_function, paired_function, resolve_mode
from recipe.vogue.trainer.verl_patches import patch_qwen2_vl_text_only_batches

__all__ = ["PAIRED_INPUTS_KEY", "CHUNK_SIZE_KEY", "ESTIMATOR_KEY", "VOCAB_MATH_KEY", "output_keys", "positions_to_jagged",
           "response_positions", "scalar_temperature", "vogue_forward_step", "VogueActorRolloutRefWorker"]

PAIRED_INPUTS_KEY = "paired_multi_modal_inputs"
CHUNK_SIZE_KEY = "vogue_kl_chunk_size"
ESTIMATOR_KEY = "vogue_kl_estimator"
VOCAB_MATH_KEY = "vogue_vocab_math"
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


def response_positions(micro_batch: TensorDict, logits_shape: torch.Size, packed: bool,
                       rows: Sequence[int] | None = None) -> torch.Tensor:
    """Bool mask over the logits' positions that predict a response token: in sequence i of length L_i with
    R_i response tokens, positions L_i − R_i − 1 … L_i − 2 (the ones ``no_padding_2_padding`` reads), for
    every sequence or only for ``rows``.
    ``logits_shape``: packed ``[1, tokens + pad, V]`` or padded ``[batch, max_len, V]``."""
    lengths = micro_batch["input_ids"].offsets().diff().to(torch.long)
    responses = _response_lengths(micro_batch).to(lengths.device)
    selected = torch.ones(lengths.numel(), dtype=torch.bool)
    if rows is not None:
        selected = torch.zeros(lengths.numel(), dtype=torch.bool)
        selected[list(rows)] = True
    if packed:
        mask = torch.zeros(logits_shape[1], dtype=torch.bool)
        ends = lengths.cumsum(0)
        for end, count, keep in zip(ends.tolist(), responses.tolist(), selected.tolist(), strict=True):
            mask[end - count - 1 : end - 1] = keep
        return mask
    index = torch.arange(logits_shape[1])[None, :]
    return (index >= (lengths - responses - 1)[:, None]) & (index < (lengths - 1)[:, None]) & selected[:, None]


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
    """One forward's positions: where per-position values are computed (the response positions of its rows, or
    all positions under Ulysses SP, whose slices do not keep whole sequences) and how they return to verl's
    jagged layout."""

    def __init__(self, engine, micro_batch: TensorDict, output_args: dict, logits_shape: torch.Size):
        self.micro_batch, self.engine, self.output_args, self.shape = micro_batch, engine, output_args, logits_shape
        self.packed = tu.get_non_tensor_data(data=micro_batch, key="use_remove_padding", default=True)
        self.sliced = self.packed and getattr(engine, "use_ulysses_sp", False)
        self.computed = self.index()

    def index(self, rows: Sequence[int] | None = None) -> torch.Tensor:
        """Flat indices (into logits reshaped to [positions, V]) of the computed positions of ``rows`` (all rows
        by default), in row order — the order of the same rows' positions in a forward over those rows only."""
        if self.sliced:
            return torch.arange(self.shape[:-1].numel())
        return response_positions(self.micro_batch, self.shape, self.packed, rows).reshape(-1).nonzero().squeeze(-1)

    def to_jagged(self, values: torch.Tensor) -> torch.Tensor:
        """Values at ``index()`` → jagged per-row values (0 outside the response)."""
        full = values.new_zeros(self.shape[:-1].numel())
        full[self.computed.to(values.device)] = values
        full = full.reshape(self.shape[:-1])
        if self.packed:
            full = self.engine._gather_and_unpad_packed(full.reshape(-1), self.output_args["pad_size"])
        return positions_to_jagged(full, self.micro_batch["input_ids"].offsets())


class _Forward:
    """One teacher-forced forward of verl's model over a (sub-)micro-batch, with verl's own input and output
    preparation (log-probs of the sampled tokens); the full logits live as long as this object."""

    def __init__(self, engine, micro_batch: TensorDict, multi_modal_inputs=None):
        inputs, output_args = engine.prepare_model_inputs(micro_batch=micro_batch)
        if multi_modal_inputs is not None:
            inputs = {**inputs, **extract_multi_modal_inputs(multi_modal_inputs)}
        log_probs_only = micro_batch.copy()
        tu.assign_non_tensor(log_probs_only, calculate_entropy=False)  # entropies below, fp32, response positions
        with _autocast(engine):
            output = engine.module(**inputs, use_cache=False)
            self.log_probs = engine.prepare_model_outputs(output, output_args, log_probs_only, None)["log_probs"]
        self.logits = _full_logits(output)
        self.positions = _Positions(engine, micro_batch, output_args, self.logits.shape)


def _autocast(engine):
    dtype = getattr(engine, "_autocast_dtype", torch.bfloat16)
    return nullcontext() if dtype == torch.float32 else torch.autocast(get_device_name(), dtype=dtype)


def _has_pixels(multi_modal_inputs) -> bool:
    return bool(multi_modal_inputs) and "pixel_values" in multi_modal_inputs


def _dummy_forward(engine, micro_batch: TensorDict) -> None:
    """A discarded one-row forward (a row with an image where the micro-batch has one): its collectives (FSDP
    all-gathers of every block, the vision tower's included) match another rank's paired forward."""
    inputs = list(micro_batch["multi_modal_inputs"])
    row = next((i for i, row_inputs in enumerate(inputs) if _has_pixels(row_inputs)), 0)
    _Forward(engine, tu.index_select_tensor_dict(micro_batch, [row]))


def any_rank_probes(engine, probes_here: bool) -> bool:
    """Whether any data-parallel rank has a probed row in its current micro-batch (a MAX all-reduce over the
    engine's data-parallel group; this rank's answer alone without a process group)."""
    if not torch.distributed.is_initialized():
        return probes_here
    flag = torch.tensor([int(probes_here)], device=get_device_id())
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX, group=engine.get_data_parallel_group())
    return bool(flag.item())


def output_keys(estimator: str) -> tuple[str, ...]:
    """The keys EVERY micro-batch returns, whichever of its rows are probed: verl concatenates the
    micro-batches' (and data-parallel ranks') outputs key by key, so a key missing from one raw-only
    micro-batch would leave that key short of rows. u_per comes from the worker for the full-vocabulary
    estimators only (the driver computes the sampled ones from both log-probs)."""
    return RAW_KEYS + tuple(key for key in PAIRED_KEYS if key != "u_per" or estimator in FULL_KL_ESTIMATORS)


def _merge_rows(parts: list[tuple[list[int], dict]], lengths: list[int], keys: Sequence[str], device) -> dict:
    """Per-row outputs of the sub-batches → jagged tensors in micro-batch order, one per key (0 where a row
    has none: the paired keys of raw-only rows). ``parts``: (micro-batch row of each output row, or None for
    an output row to drop; outputs)."""
    merged = {}
    for key in keys:
        rows = [torch.zeros(length, device=device) for length in lengths]
        for indices, outputs in parts:
            if key in outputs:
                for position, values in zip(indices, outputs[key].unbind(), strict=True):
                    if position is not None:
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


def log_row_groups(micro_batch: TensorDict, paired_column: Sequence) -> None:
    """With ``VOGUE_LOG_ROW_GROUPS=1``, one line per micro-batch: this rank's raw-only, probed and image-less row
    counts (how the multi-rank tests see that ranks held different row groups)."""
    if os.environ.get(LOG_ROW_GROUPS_ENV) != "1":
        return
    probed = sum(inputs is not None for inputs in paired_column)
    no_image = sum(not _has_pixels(inputs) for inputs in micro_batch["multi_modal_inputs"])
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    print(f"[vogue row groups] rank {rank} raw-only {len(paired_column) - probed} probed {probed} "
          f"no-image {no_image}", flush=True)


def vogue_forward_step(engine, micro_batch: TensorDict, loss_function=None, forward_only=True, *,
                       chunk_size: int, estimator: str = "full", vocab_math: str = "eager"):
    """Replacement for ``FSDPEngineWithLMHead.forward_step`` during the old-log-prob stage (forward only).

    Guarantee: the sequence of collective operations of a micro-batch is the same on every data-parallel rank
    whatever rows it holds (FSDP all-gathers run once per forward, and verl keeps the number of micro-batches
    equal across ranks). Each micro-batch makes

    1. one MAX all-reduce of "this rank has a probed row" over the data-parallel group;
    2. ONE forward over the whole micro-batch under the rows' own inputs: log-probs and fp32 entropy of every
       row; the logits at the probed rows' response positions are kept, the rest freed;
    3. if any rank has a probed row: ONE forward — the paired forward over this rank's probed rows under
       their ``paired_multi_modal_inputs``, or, on a rank without a probed row, a discarded one-row forward of
       one of its own rows (with its image where it has one) — else none.

    So 1 or 2 forwards on every rank, never a rank-dependent count. The vocabulary math (``vocab_math``:
    ``eager`` or ``compiled``, ``core.vocab_math``) reads each logit once per measure: the entropy of the
    positions whose raw logits are not kept, then for the kept ones both entropies and the full-vocabulary u_per
    in one pass over both branches' chunks. Every forward calls the vision tower once
    (verl's ``_get_input_embeds`` runs it on a dummy grid for a text-only micro-batch, patched for
    Qwen2.5-VL in ``verl_patches``). Under Ulysses SP the paired forward covers the whole micro-batch (rows
    without paired inputs under their own; their paired values are dropped), so both forwards slice alike.
    Peak logits memory: max(T, T_paired)·V + R_probed·V for T tokens, T_paired paired tokens and R_probed
    response tokens of probed rows (``cost_model.paired_pass_peak_logits_bytes``); the sampled estimators keep
    no raw logits (max(T, T_paired)·V).
    """
    if not forward_only or loss_function is not None:
        raise RuntimeError("the VOGUE log-prob stage is inference only")
    micro_batch = micro_batch.to(get_device_id())
    paired_column = list(micro_batch[PAIRED_INPUTS_KEY])
    log_row_groups(micro_batch, paired_column)
    probed = [row for row, inputs in enumerate(paired_column) if inputs is not None]
    paired_forward = any_rank_probes(engine, bool(probed))
    temperature = scalar_temperature(micro_batch["temperature"])
    entropy = entropy_function(vocab_math, temperature)
    full_kl = estimator in FULL_KL_ESTIMATORS

    raw = _Forward(engine, micro_batch)
    all_rows = list(range(len(paired_column)))
    paired_rows = all_rows if raw.positions.sliced else probed
    raw_positions, computed = raw.positions, raw.positions.computed.to(raw.logits.device)
    raw_entropy = torch.empty(computed.numel(), dtype=torch.float32, device=raw.logits.device)
    kept, raw_logits = torch.zeros_like(computed, dtype=torch.bool), None
    if probed and full_kl:  # the raw logits of the paired rows' positions stay for the paired pass
        index = raw_positions.index(paired_rows).to(raw.logits.device)
        kept = torch.isin(computed, index)
        if not torch.equal(computed[kept], index):
            raise RuntimeError("the paired rows' response positions are not among the raw forward's, in order")
        raw_logits = raw.logits.reshape(-1, raw.logits.shape[-1])[index]  # the only raw logits kept
    raw_entropy[~kept] = measure_at_positions(entropy, chunk_size, computed[~kept], raw.logits)
    results = {"log_probs": raw.log_probs}
    del raw
    parts = [(all_rows, results)]
    if probed:
        rows = micro_batch if len(paired_rows) == len(all_rows) else tu.index_select_tensor_dict(micro_batch, paired_rows)
        own = list(micro_batch["multi_modal_inputs"])
        paired = _Forward(engine, rows, [paired_column[row] if paired_column[row] is not None else own[row]
                                         for row in paired_rows])
        index = paired.positions.computed
        outputs = {"paired_log_probs": paired.log_probs}
        if full_kl:
            measures = paired_function(vocab_math, temperature, estimator)
            raw_entropy[kept], paired_entropy, u_per = measure_at_positions(measures, chunk_size, index, paired.logits,
                                                                             raw_logits, outputs=3)
            outputs["u_per"] = paired.positions.to_jagged(u_per)
        else:
            paired_entropy = measure_at_positions(entropy, chunk_size, index, paired.logits)
        outputs["paired_entropy"] = paired.positions.to_jagged(paired_entropy)
        parts.append(([row if paired_column[row] is not None else None for row in paired_rows], outputs))
    elif paired_forward:
        _dummy_forward(engine, micro_batch)
    results["entropy"] = raw_positions.to_jagged(raw_entropy)
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
        # auto: compiled where verl compiles its own entropy (the engine's use_torch_compile)
        vocab_math = resolve_mode(tu.pop(data, key=VOCAB_MATH_KEY, default="auto"),
                                  engine.engine_config.use_torch_compile)
        engine.forward_step = partial(vogue_forward_step, engine, chunk_size=chunk_size, estimator=estimator,
                                      vocab_math=vocab_math)
        try:
            output = self.actor.infer_batch(data)
        finally:
            del engine.forward_step  # back to the class's forward_step
        return output.cpu() if output is not None else None
