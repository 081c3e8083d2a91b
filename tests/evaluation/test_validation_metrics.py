"""recipe.vogue.evaluation.validation: the unbiased validation metrics against brute force and against verl's own
mean@n/std@n, and the mixin in a trainer's MRO."""

import itertools
import logging
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from recipe.vogue.evaluation import validation
from recipe.vogue.evaluation.validation import UnbiasedValidationMetrics, sample_sizes, validation_metrics

# two sources; prompts' samples interleaved (grouping must use the uids, not adjacency)
PROMPTS = {  # (source, uid) → [(acc, pred), ...]
    ("geo", "u1"): [(1, "3"), (0, "4"), (0, "4"), (1, "3")],
    ("geo", "u2"): [(0, "7"), (0, ""), (0, "8"), (0, "8")],
    ("geo", "u3"): [(1, "2"), (1, "2"), (1, "2"), (1, "2")],
    ("chart", "u4"): [(0, "a"), (1, "b"), (0, "c"), (0, "a")],
    ("chart", "u5"): [(1, "x"), (0, "y"), (1, "x"), (0, "y")],
}


def verl_lists(prompts):
    """verl's per-sample lists (data_sources, sample_uids, reward_extra_infos_dict), samples round-robin."""
    sources, uids, infos = [], [], {"reward": [], "acc": [], "score": [], "pred": [], "row_id": []}
    longest = max(map(len, prompts.values()))
    for position in range(longest):
        for (source, uid), samples in prompts.items():
            if position < len(samples):
                acc, pred = samples[position]
                sources.append(source)
                uids.append(uid)
                infos["acc"].append(float(acc))
                infos["reward"].append(0.9 * acc + 0.1 * (position % 2))
                infos["score"].append(0.9 * acc + 0.1 * (position % 2))
                infos["pred"].append(pred)
                infos["row_id"].append(uid)
    return np.array(sources, dtype=object), uids, infos


def brute_pass(accs, k):
    subsets = list(itertools.combinations(accs, k))
    return sum(any(subset) for subset in subsets) / len(subsets)


def brute_maj(samples, k):
    total = Fraction(0)
    subsets = list(itertools.combinations(samples, k))
    for subset in subsets:
        votes = Counter(pred for _, pred in subset if pred)
        if not votes:
            continue
        top = max(votes.values())
        winners = [pred for pred, count in votes.items() if count == top]
        for winner in winners:
            right = [acc for acc, pred in samples if pred == winner]
            total += Fraction(sum(right), len(right)) / len(winners)
    return float(total / len(subsets))


def test_pass_and_maj_at_k_equal_brute_force_over_all_subsets():
    metrics = validation_metrics(*verl_lists(PROMPTS))
    for source in ("geo", "chart"):
        groups = [samples for (name, _), samples in PROMPTS.items() if name == source]
        for k in (1, 2, 4):
            expected = np.mean([brute_pass([acc for acc, _ in samples], k) for samples in groups])
            assert metrics[f"val-core/{source}/acc/pass@{k}"] == pytest.approx(expected, abs=1e-12)
        for k, section in ((2, "val-aux"), (4, "val-core")):
            expected = np.mean([brute_maj(samples, k) for samples in groups])
            assert metrics[f"{section}/{source}/acc/maj@{k}"] == pytest.approx(expected, abs=1e-12)


def test_one_correct_in_four_is_pass_at_4_of_one_not_verls_bootstrap():
    sources, uids, infos = verl_lists({("s", "u"): [(1, "a"), (0, "b"), (0, "b"), (0, "c")]})
    assert validation_metrics(sources, uids, infos)["val-core/s/acc/pass@4"] == 1.0


def test_mean_and_std_equal_verls_and_keep_its_names():
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    sources, uids, infos = verl_lists(PROMPTS)
    ours = validation_metrics(sources, uids, infos)
    verls = RayPPOTrainer._val_metrics_update(None, sources, uids, infos, [])
    shared = {key for key in verls if "/mean@" in key or "/std@" in key}
    assert shared == {key for key in ours if "/mean@" in key or "/std@" in key}
    assert "val-core/geo/acc/mean@4" in shared and "val-aux/chart/score/std@4" in shared
    for key in shared:
        assert ours[key] == pytest.approx(verls[key], abs=1e-12), key
    assert not any("best@" in key or "worst@" in key or "pred" in key or "row_id" in key for key in ours)


def test_prompts_with_different_sample_counts_stop_k_at_the_fewest():
    prompts = {("s", "a"): [(1, "1"), (0, "2"), (0, "2")], ("s", "b"): [(0, "1"), (1, "2"), (0, "3"), (0, "4"), (1, "2")]}
    metrics = validation_metrics(*verl_lists(prompts))
    assert sorted(key for key in metrics if "pass@" in key) == ["val-core/s/acc/pass@1", "val-core/s/acc/pass@2", "val-core/s/acc/pass@3"]
    expected = np.mean([brute_pass([acc for acc, _ in samples], 3) for samples in prompts.values()])
    assert metrics["val-core/s/acc/pass@3"] == pytest.approx(expected)
    assert "val-core/s/acc/mean@5" in metrics


def test_without_acc_the_core_key_is_reward_and_no_pass_at_k(caplog):
    sources, uids, infos = verl_lists(PROMPTS)
    without_acc = {key: values for key, values in infos.items() if key != "acc"}
    metrics = validation_metrics(sources, uids, without_acc)
    assert "val-core/geo/reward/mean@4" in metrics and not any("pass@" in key or "maj@" in key for key in metrics)
    validation._warned.clear()
    graded = dict(infos, acc=[0.5] * len(uids))
    with caplog.at_level(logging.WARNING, logger="recipe.vogue.evaluation.validation"):
        metrics = validation_metrics(sources, uids, graded)
    assert "val-core/geo/acc/mean@4" in metrics and not any("pass@" in key for key in metrics)
    assert "not 0/1" in caplog.text


def test_sample_sizes():
    assert [sample_sizes(n) for n in (1, 2, 4, 5, 16)] == [[1], [1, 2], [1, 2, 4], [1, 2, 4, 5], [1, 2, 4, 8, 16]]


def test_mixin_replaces_verls_hook_and_keeps_num_turns():
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    class Trainer(UnbiasedValidationMetrics, RayPPOTrainer):
        pass

    trainer = object.__new__(Trainer)
    sources, uids, infos = verl_lists(PROMPTS)
    turns = [np.array([2] * 10, dtype=np.int32), np.array([1, 3] * 5, dtype=np.int32)]
    metrics = trainer._val_metrics_update(sources, uids, infos, turns)
    assert "val-core/geo/acc/pass@2" in metrics
    assert (metrics["val-aux/num_turns/min"], metrics["val-aux/num_turns/max"], metrics["val-aux/num_turns/mean"]) == (1, 3, 2)
