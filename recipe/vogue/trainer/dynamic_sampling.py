"""Dynamic sampling (DAPO's online group filtering) on verl's legacy trainer, without its fit() (paper v3 Table 6).

verl 0.9.1 reads ``algorithm.filter_groups`` only in the v1 trainer's replay buffer; the legacy
``RayPPOTrainer`` that VogueTrainer extends never does. Here it runs where fit() hands the trainer its
step's rows: fit() calls ``_balance_batch(batch)`` right after ``batch = batch.repeat(n).union(gen_output)``
and before it reads the rewards, and VogueTrainer's override first calls ``DynamicSampling.fill``, which
edits that DataProto IN PLACE (its ``batch`` and ``non_tensor_batch`` are replaced), so every later stage
of fit() — rewards, old log-probs, VOGUE's branch draws, advantages, shaping, the update — sees only the
kept groups.

Which groups: a group (the n responses of one prompt, one uid) is kept when the mean of its
``filter_groups.metric`` lies strictly inside (0.01, 0.99), the released code's online filter; ``acc``,
the verifier's verdict, is the metric to use (``score`` includes the format term). For a binary accuracy
this is DAPO's "neither all right nor all wrong".

Where the extra prompts come from:

1. over-sampling: the legacy dataloader yields ``data.gen_batch_size`` prompts per step (default
   ``data.train_batch_size``) and fit() generates all of them;
2. refill rounds: while fewer than ``train_batch_size`` groups are kept, another ``gen_batch_size`` prompts
   are drawn from the training dataset (``refill_prompts``: a permutation seeded by (run seed, step), no
   prompt twice within a step's refills) and generated through the same, wrapped, rollout manager. The
   rollout replicas sleep after fit()'s generation (vLLM frees their weights), so each round wakes them
   as verl's ``_validate`` does — ``checkpoint_manager.update_weights`` with the unchanged actor weights —
   and puts them back to sleep. fit()'s dataloader iterator is private to fit(): refills never touch it.

The kept groups, in generation order (fit()'s rows first, then each round's), are cut to exactly
``train_batch_size`` groups, so the update's mini-batch arithmetic is as without filtering.

Union consistency: fit()'s own union has happened before ``fill`` runs. Each refill round is built the way
fit() builds a step — collate, fresh uids, ``_get_gen_batch``, the n-fold interleaved repeat, generation,
then ``repeat(n).union`` with its own prompt rows — so every round has the same columns, and each row's
prompt columns are its own response's; rounds are joined with ``DataProto.concat``. fit()'s ``meta_info``
is kept (the refills' agent-loop metrics are dropped).

Step counts and resume: one fit() iteration is still one training step and one dataloader batch, so
``global_steps``, ``total_training_steps``, the p(s) schedule, checkpoints and the dataloader's saved state
are exactly as without filtering, and a resumed run draws the same refill prompts. Refill prompts are
extra draws: a prompt can be seen in more steps of an epoch than without filtering (counted in
``dynamic_sampling/generated_prompts``). EasyR1 (the released code's base) instead consumes the next
dataloader batches, which shortens its epochs. Bound: at most ``filter_groups.max_num_gen_batches``
generation rounds per step, fit()'s included (≤ 0: no bound); a step that is still short then stops the
run with an error, as EasyR1's and verl-recipe's DAPO do.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from verl import DataProto

from recipe.vogue.core.noisy_branch import stable_seed
from recipe.vogue.trainer.noisy_inputs import GENERATION_ORDER_KEY

__all__ = ["KEEP_ABOVE", "KEEP_BELOW", "DynamicSampling", "first_groups", "kept_rows", "refill_prompts"]

# A group is kept when KEEP_ABOVE < mean(metric) < KEEP_BELOW (the released code's filter_low/filter_high).
KEEP_ABOVE, KEEP_BELOW = 0.01, 0.99


def kept_rows(uids: Sequence[Any], values: Sequence[float], low: float = KEEP_ABOVE, high: float = KEEP_BELOW) -> np.ndarray:
    """[rows] bool: the rows whose group (same uid) has ``low < mean(values) < high``."""
    uids = np.asarray(uids, dtype=object)
    values = np.asarray(values, dtype=np.float64)
    _, group, counts = np.unique(uids, return_inverse=True, return_counts=True)
    means = np.bincount(group, weights=values) / counts
    return ((means > low) & (means < high))[group]


def first_groups(uids: Sequence[Any], groups: int) -> np.ndarray:
    """Row indices of the first ``groups`` groups (by first appearance of their uid), rows in order."""
    uids = np.asarray(uids, dtype=object)
    chosen: set = set()
    for uid in uids:
        if len(chosen) == groups:
            break
        chosen.add(uid)
    return np.flatnonzero([uid in chosen for uid in uids])


def refill_prompts(dataset_size: int, per_round: int, seed: int, step: int, round_index: int) -> list[int]:
    """Dataset indices of refill round ``round_index`` (1, 2, …) of ``step``: consecutive slices of one
    permutation seeded by (seed, step), so no prompt repeats within a step's refills until the dataset is
    used up (then a further permutation, seeded by the cycle, continues)."""
    indices: list[int] = []
    start = (round_index - 1) * per_round
    while len(indices) < per_round:
        cycle, offset = divmod(start + len(indices), dataset_size)
        generator = torch.Generator().manual_seed(stable_seed("refill", seed, step, cycle))
        permutation = torch.randperm(dataset_size, generator=generator).tolist()
        indices.extend(permutation[offset:offset + per_round - len(indices)])
    return indices


@dataclasses.dataclass(frozen=True)
class DynamicSampling:
    """``algorithm.filter_groups`` for one run: keep groups by ``metric``, ``groups`` (= train_batch_size)
    groups of ``n`` per step, at most ``max_rounds`` generation rounds per step (≤ 0: unbounded)."""

    metric: str
    max_rounds: int
    groups: int
    n: int

    @classmethod
    def from_config(cls, config: Any) -> DynamicSampling | None:
        node = config.algorithm.get("filter_groups") or {}
        if not node.get("enable", False):
            return None
        return cls(metric=str(node.get("metric") or "acc"), max_rounds=int(node.get("max_num_gen_batches", 0)),
                   groups=int(config.data.train_batch_size), n=int(config.actor_rollout_ref.rollout.n))

    def row_values(self, rows: DataProto) -> np.ndarray:
        """Per row, the filter metric: a reward extra-info column (``acc``), or ``reward`` = the summed rm_scores."""
        if self.metric in rows.non_tensor_batch:
            return np.asarray(rows.non_tensor_batch[self.metric], dtype=np.float64)
        if self.metric == "reward" and "rm_scores" in rows.batch.keys():
            return rows.batch["rm_scores"].sum(-1).double().numpy()
        raise ValueError(
            f"algorithm.filter_groups.metric={self.metric!r} is not among the reward's per-row outputs "
            f"{sorted(rows.non_tensor_batch)} (or 'reward' for the summed rm_scores)"
        )

    def fill(self, batch: DataProto, refill: Callable[[int], DataProto], metrics: dict[str, float]) -> None:
        """Keep ``batch``'s groups that pass the filter, generate refill rounds (``refill(round)`` returns a
        round's rows, round = 1, 2, …) until ``groups`` groups are kept, and put exactly the first ``groups``
        of them into ``batch`` in place. Adds ``dynamic_sampling/*`` metrics."""
        started = time.perf_counter()
        rounds, kept_groups, generated_groups, refill_seconds, pieces = 0, 0, 0, 0.0, []
        rows = batch
        while True:
            rounds += 1
            uids = np.asarray(rows.non_tensor_batch["uid"], dtype=object)
            if len(uids) % self.n:
                raise ValueError(f"dynamic sampling: {len(uids)} rows are not whole groups of n = {self.n}")
            keep = kept_rows(uids, self.row_values(rows))
            generated_groups += len(uids) // self.n
            kept_groups += int(keep.sum()) // self.n
            if keep.any():
                kept = rows.select_idxs(keep)
                pieces.append(DataProto(batch=kept.batch, non_tensor_batch=kept.non_tensor_batch, meta_info={}))
            if kept_groups >= self.groups:
                break
            if 0 < self.max_rounds <= rounds:
                raise RuntimeError(
                    f"dynamic sampling: {kept_groups} of the {self.groups} groups a step trains on pass the filter "
                    f"{KEEP_ABOVE} < mean({self.metric}) < {KEEP_BELOW} after {rounds} generation rounds "
                    f"(algorithm.filter_groups.max_num_gen_batches={self.max_rounds}; <= 0 removes the bound). "
                    "The prompts are too easy or too hard for the policy: check the data or raise the bound"
                )
            round_started = time.perf_counter()
            rows = refill(rounds)
            refill_seconds += time.perf_counter() - round_started
        merged = pieces[0] if len(pieces) == 1 else DataProto.concat(pieces)
        merged = merged.select_idxs(first_groups(merged.non_tensor_batch["uid"], self.groups))
        if GENERATION_ORDER_KEY in merged.batch.keys():  # each round stamped its own 0..B−1
            merged.batch[GENERATION_ORDER_KEY] = torch.arange(len(merged))
        batch.batch, batch.non_tensor_batch = merged.batch, merged.non_tensor_batch
        metrics.update({
            "dynamic_sampling/rounds": float(rounds),
            "dynamic_sampling/generated_prompts": float(generated_groups),
            "dynamic_sampling/kept_group_frac": kept_groups / generated_groups,
            "timing_s/dynamic_sampling_refill": refill_seconds,
            "timing_s/dynamic_sampling": time.perf_counter() - started,
        })
