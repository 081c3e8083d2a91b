"""Validation metrics with the unbiased pass@k, for verl's ``RayPPOTrainer`` (a mixin; no verl import).

verl 0.9.1's ``_val_metrics_update`` (``process_validation_metrics``) bootstraps best@k, worst@k and
maj@k 1,000 times per prompt and reward key (≈ 15 s for 50 prompts × 16 samples on 2 cores, ≈ 50 min per
10k prompts), and best@k drawn with replacement is biased low (1 correct answer in 4 scores ≈ 0.68, not 1).
``UnbiasedValidationMetrics`` replaces that hook and keeps verl's metric names, per data source:

    val-core/<source>/acc/mean@n     mean over prompts of the prompt's mean accuracy (as verl)
    val-core/<source>/acc/pass@k     unbiased pass@k (``evaluation.pass_at_k``), k = 1, 2, 4, … ≤ n and n
    val-core/<source>/acc/maj@n      exact maj@k over all k-subsets (``evaluation.maj_at_k``) when the
    val-aux/<source>/acc/maj@k       reward returns ``pred``; k = 2, 4, … < n in val-aux (verl: maj@k/mean)
    val-aux/<source>/<key>/mean@n    every other numeric reward key (reward, score, format, …), as verl
    val-aux/<source>/<key>/std@n     mean over prompts of the per-prompt standard deviation, as verl
    val-aux/num_turns/{min,max,mean}

Samples are grouped per prompt by verl's ``sample_uids``. n is the most samples any prompt of the source
has and k stops at the fewest. A source without a numeric ``acc`` reports ``reward`` as its core key (as
verl) and no pass@k or maj@k; so does an ``acc`` that is not 0/1 (with one warning). String keys (pred,
row_source, row_id) are skipped, as verl does.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from recipe.vogue.evaluation.metrics import maj_at_k, mean_pass_at_k

__all__ = ["UnbiasedValidationMetrics", "validation_metrics", "sample_sizes"]

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def sample_sizes(n: int) -> list[int]:
    """The k reported for n samples: 1, 2, 4, … ≤ n, and n itself."""
    return sorted({2**power for power in range(max(n, 0).bit_length())} | ({n} if n > 0 else set()))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _sampling_metrics(source: str, accs: list[list], preds: list[list] | None) -> dict[str, float]:
    """pass@k and maj@k of one source from its per-prompt accuracies (and extracted answers)."""
    if any(acc not in (0, 1) for prompt in accs for acc in prompt):
        if source not in _warned:
            _warned.add(source)
            logger.warning("validation: acc of %s is not 0/1, so no pass@k or maj@k is reported", source)
        return {}
    fewest, most = min(map(len, accs)), max(map(len, accs))
    counts = [(len(prompt), sum(acc == 1 for acc in prompt)) for prompt in accs]
    metrics = {f"val-core/{source}/acc/pass@{k}": mean_pass_at_k(counts, k) for k in sample_sizes(fewest)}
    if preds is not None:
        for k in sample_sizes(fewest)[1:]:
            section = "val-core" if k == most else "val-aux"
            votes = [maj_at_k(prompt_preds, prompt_accs, k) for prompt_preds, prompt_accs in zip(preds, accs)]
            metrics[f"{section}/{source}/acc/maj@{k}"] = float(np.mean(votes))
    return metrics


def validation_metrics(data_sources: Sequence, sample_uids: Sequence, infos: Mapping[str, Sequence]) -> dict[str, float]:
    """The metrics of one validation (module docstring) from verl's per-sample lists."""
    if len(data_sources) != len(sample_uids):
        raise ValueError(f"{len(data_sources)} data sources for {len(sample_uids)} sample uids")
    prompts: dict[str, dict] = defaultdict(lambda: defaultdict(list))  # source → uid → sample indices
    for index, (source, uid) in enumerate(zip(data_sources, sample_uids)):
        prompts[str(source)][uid].append(index)
    metrics: dict[str, float] = {}
    for source, groups in prompts.items():
        numeric = {}
        for name, values in infos.items():
            if len(values) != len(sample_uids):  # verl leaves a key it never filled empty
                continue
            per_prompt = [[values[index] for index in rows] for rows in groups.values()]
            if all(_is_number(value) for prompt in per_prompt for value in prompt):
                numeric[name] = per_prompt
        core = "acc" if "acc" in numeric else "reward"
        for name, per_prompt in numeric.items():
            n = max(map(len, per_prompt))
            metrics[f"{'val-core' if name == core else 'val-aux'}/{source}/{name}/mean@{n}"] = float(
                np.mean([np.mean(prompt) for prompt in per_prompt])
            )
            if n > 1:
                metrics[f"val-aux/{source}/{name}/std@{n}"] = float(np.mean([np.std(prompt) for prompt in per_prompt]))
        if core == "acc":
            preds = None
            if "pred" in infos:
                preds = [[infos["pred"][index] for index in rows] for rows in groups.values()]
                preds = preds if all(isinstance(pred, str) for prompt in preds for pred in prompt) else None
            metrics.update(_sampling_metrics(source, numeric["acc"], preds))
    return metrics


class UnbiasedValidationMetrics:
    """Mixin for ``RayPPOTrainer`` subclasses (list it before the trainer): validation metrics with the
    unbiased pass@k instead of verl's bootstrap (module docstring). Overrides only ``_val_metrics_update``."""

    def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns):
        metrics = validation_metrics(data_sources, sample_uids, reward_extra_infos_dict)
        if len(sample_turns) > 0:
            turns = np.concatenate(sample_turns)
            metrics.update({f"val-aux/num_turns/{name}": float(reduce(turns))
                            for name, reduce in (("min", np.min), ("max", np.max), ("mean", np.mean))})
        return metrics
