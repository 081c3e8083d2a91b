"""DAPO on the legacy trainer: the group filter and refill rounds (vs brute force), the bound, the
`base=dapo` preset's keys, its config checks, and overlong shaping through verl's own dapo reward manager."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import vogue_reward
from recipe.vogue.trainer.dynamic_sampling import DynamicSampling, first_groups, kept_rows, refill_prompts
from recipe.vogue.trainer.noisy_inputs import GENERATION_ORDER_KEY
from recipe.vogue.trainer.vogue_config import validate_run_config
from verl import DataProto

ENTRY_FILE = os.path.join(os.path.dirname(vogue_reward.__file__), "verl_entry.py")


# ---- the filter ------------------------------------------------------------------------------------

@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.005, 0.01, 0.3, 0.5, 0.99, 1.0])),
                min_size=1, max_size=40))
def test_kept_rows_matches_a_loop_over_groups(rows):
    uids = [f"u{group}" for group, _ in rows]
    values = [value for _, value in rows]
    expected = []
    for uid in uids:
        members = [value for other, value in zip(uids, values) if other == uid]
        mean = sum(members) / len(members)
        expected.append(0.01 < mean < 0.99)
    assert kept_rows(uids, values).tolist() == expected


def test_the_bounds_are_strict_and_binary_accuracy_keeps_mixed_groups():
    uids = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    acc = [1, 1, 1, 1] + [0, 0, 0, 0] + [0, 1, 0, 0]
    assert kept_rows(uids, acc).tolist() == [False] * 8 + [True] * 4
    assert kept_rows(["a", "a"], [0.01, 0.01]).tolist() == [False, False]
    assert kept_rows(["a", "a"], [0.99, 0.99]).tolist() == [False, False]


@given(st.lists(st.integers(0, 6), min_size=0, max_size=30), st.integers(0, 8))
def test_first_groups_keeps_whole_groups_in_order_of_appearance(groups, count):
    uids = [f"u{g}" for g in groups]
    order = list(dict.fromkeys(uids))[:count]
    assert first_groups(uids, count).tolist() == [i for i, uid in enumerate(uids) if uid in order]


def test_refill_prompts_no_repeats_within_a_step_until_the_dataset_is_used_up():
    drawn = [i for r in (1, 2, 3) for i in refill_prompts(10, 3, seed=7, step=4, round_index=r)]
    assert len(set(drawn)) == 9 and all(0 <= i < 10 for i in drawn)
    fourth = refill_prompts(10, 3, seed=7, step=4, round_index=4)  # crosses into the next permutation
    assert len(fourth) == 3 and set(drawn[:9]) | {fourth[0]} == set(range(10))
    assert refill_prompts(10, 3, seed=7, step=4, round_index=2) == drawn[3:6]  # stateless: resume draws the same
    assert refill_prompts(1000, 3, seed=7, step=5, round_index=1) != refill_prompts(1000, 3, seed=7, step=4, round_index=1)
    assert refill_prompts(1000, 3, seed=8, step=4, round_index=1) != refill_prompts(1000, 3, seed=7, step=4, round_index=1)


# ---- fill: rounds, truncation, bound ------------------------------------------------------------------

N = 2


def _rows(accuracies, tag: str) -> DataProto:
    """One generation round: a group per entry of ``accuracies`` (N responses each), rows in generation order."""
    uids = np.array([f"{tag}{g}" for g, _ in enumerate(accuracies) for _ in range(N)], dtype=object)
    acc = np.array([a for group in accuracies for a in group], dtype=np.float64)
    rows = len(uids)
    return DataProto.from_dict(
        tensors={"responses": torch.arange(rows)[:, None].repeat(1, 3), GENERATION_ORDER_KEY: torch.arange(rows)},
        non_tensors={"uid": uids, "acc": acc, "score": acc * 0.9 + 0.1},
        meta_info={"temperature": 1.0},
    )


MIXED, SOLVED, FAILED = (0.0, 1.0), (1.0, 1.0), (0.0, 0.0)


class _Refills:
    def __init__(self, *rounds):
        self.rounds, self.calls = list(rounds), []

    def __call__(self, round_index):
        self.calls.append(round_index)
        return _rows(self.rounds[round_index - 1], f"r{round_index}-")


def _expected(rounds, groups):
    """Brute force: every round's groups in order, the mixed ones kept, the first ``groups`` of them."""
    kept = [(f"{tag}{g}", accuracies) for tag, accs in rounds for g, accuracies in enumerate(accs)
            if 0.01 < sum(accuracies) / N < 0.99]
    return [uid for uid, _ in kept[:groups] for _ in range(N)]


def test_fill_keeps_the_first_mixed_groups_across_rounds_in_place():
    sampler = DynamicSampling(metric="acc", max_rounds=5, groups=3, n=N)
    first = [SOLVED, MIXED, FAILED, FAILED]
    refills = _Refills([FAILED, MIXED, SOLVED, SOLVED], [MIXED, MIXED, MIXED, MIXED])
    batch, metrics = _rows(first, "fit-"), {}
    sampler.fill(batch, refills, metrics)
    rounds = [("fit-", first), ("r1-", refills.rounds[0]), ("r2-", refills.rounds[1])]
    assert batch.non_tensor_batch["uid"].tolist() == _expected(rounds, 3)
    assert refills.calls == [1, 2]
    assert len(batch) == 3 * N and batch.batch["responses"].shape == (3 * N, 3)
    assert batch.batch[GENERATION_ORDER_KEY].tolist() == list(range(3 * N))
    assert (kept := np.asarray(batch.non_tensor_batch["acc"]).reshape(-1, N).mean(1)).min() > 0 and kept.max() < 1
    assert batch.meta_info == {"temperature": 1.0}
    assert metrics["dynamic_sampling/rounds"] == 3.0
    assert metrics["dynamic_sampling/generated_prompts"] == 12.0
    assert metrics["dynamic_sampling/kept_group_frac"] == pytest.approx(6 / 12)


def test_fill_without_refill_when_the_first_round_suffices_and_cuts_to_the_batch():
    sampler = DynamicSampling(metric="acc", max_rounds=3, groups=2, n=N)
    batch, metrics = _rows([MIXED, SOLVED, MIXED, MIXED], "fit-"), {}
    refills = _Refills()
    sampler.fill(batch, refills, metrics)
    assert refills.calls == [] and batch.non_tensor_batch["uid"].tolist() == ["fit-0"] * N + ["fit-2"] * N
    assert metrics["dynamic_sampling/rounds"] == 1.0


def test_fill_stops_at_the_bound_with_an_error_naming_the_setting():
    sampler = DynamicSampling(metric="acc", max_rounds=3, groups=2, n=N)
    refills = _Refills([SOLVED, SOLVED], [FAILED, MIXED], [MIXED, MIXED])
    with pytest.raises(RuntimeError, match=r"1 of the 2 groups .* after 3 generation rounds .*max_num_gen_batches=3"):
        sampler.fill(_rows([SOLVED, FAILED], "fit-"), refills, {})
    assert refills.calls == [1, 2]


def test_fill_without_a_bound_generates_until_full():
    sampler = DynamicSampling(metric="acc", max_rounds=0, groups=1, n=N)
    refills = _Refills(*([[SOLVED]] * 7), [MIXED])
    batch = _rows([FAILED], "fit-")
    sampler.fill(batch, refills, {})
    assert refills.calls == list(range(1, 9)) and batch.non_tensor_batch["uid"].tolist() == ["r8-0"] * N


def test_the_metric_is_acc_not_score():
    # score = 0.9·acc + 0.1 is never 0 for a failed group: filtering on it would keep all-wrong groups
    batch = _rows([FAILED, MIXED], "fit-")
    DynamicSampling(metric="acc", max_rounds=1, groups=1, n=N).fill(batch, _Refills(), {})
    assert batch.non_tensor_batch["uid"].tolist() == ["fit-1"] * N
    kept_by_score = _rows([FAILED, MIXED], "fit-")
    DynamicSampling(metric="score", max_rounds=1, groups=1, n=N).fill(kept_by_score, _Refills(), {})
    assert kept_by_score.non_tensor_batch["uid"].tolist() == ["fit-0"] * N


def test_reward_metric_reads_rm_scores_and_an_unknown_metric_names_the_columns():
    rows = _rows([MIXED], "fit-")
    rm = torch.zeros(len(rows), 3)
    rm[:, -1] = torch.tensor([0.0, 1.0])
    rows.batch["rm_scores"] = rm
    assert DynamicSampling(metric="reward", max_rounds=1, groups=1, n=N).row_values(rows).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"metric='accuracy' is not among .*'acc'"):
        DynamicSampling(metric="accuracy", max_rounds=1, groups=1, n=N).row_values(rows)


# ---- the preset and its checks --------------------------------------------------------------------------

def test_dapo_preset_sets_the_keys_verl_reads(compose):
    config = compose(["base=dapo"])
    assert config.actor_rollout_ref.actor.clip_ratio_high == 0.28
    assert config.actor_rollout_ref.actor.clip_ratio_low == 0.2
    assert config.actor_rollout_ref.actor.loss_agg_mode == "token-mean"
    assert config.reward.reward_manager.name == "dapo"
    assert config.reward.reward_kwargs.max_resp_len == config.data.max_response_length
    sampler = DynamicSampling.from_config(config)
    assert sampler == DynamicSampling(metric="acc", max_rounds=20, groups=config.data.train_batch_size,
                                      n=config.actor_rollout_ref.rollout.n)
    assert DynamicSampling.from_config(compose()) is None
    validate_run_config(config)
    validate_run_config(compose(["base=dapo", "vogue.enable=false"]))


@pytest.mark.parametrize(("overrides", "message"), [
    (["trainer.balance_batch=false"], "trainer.balance_batch=true"),
    (["vogue.rollout_from=noisy_branch"], "vogue.rollout_from=raw"),
    (["algorithm.filter_groups.max_num_gen_batches=2.5"], "max_num_gen_batches must be an integer"),
    (["+data.gen_batch_size=0"], "data.gen_batch_size must be a positive integer"),
    (["reward.reward_manager.name=naive"], "reward.reward_manager.name=dapo"),
    (["reward.reward_kwargs.overlong_buffer_cfg.len=0"], "overlong_buffer_cfg.len must be a positive"),
    (["reward.reward_kwargs.max_resp_len=100"], "max_resp_len must be an integer >= overlong_buffer_cfg.len = 512"),
])
def test_dapo_misconfigurations_name_the_setting(compose, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_run_config(compose(["base=dapo", *overrides]))


# ---- overlong shaping through verl's own reward manager --------------------------------------------------

RESPONSE_LENGTH = 64


def _scored_row(tokenizer, text: str, length: int) -> DataProto:
    """One rollout row whose response holds ``text`` and is ``length`` tokens long (padded with spaces)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    filler = tokenizer(" ", add_special_tokens=False)["input_ids"]
    assert len(ids) <= length and len(filler) == 1
    response = torch.full((1, RESPONSE_LENGTH), tokenizer.pad_token_id)
    response[0, :length] = torch.tensor(ids + filler * (length - len(ids)))
    prompt = torch.full((1, 4), tokenizer.pad_token_id)
    mask = torch.cat([torch.ones(1, 4), (torch.arange(RESPONSE_LENGTH) < length).float()[None]], dim=1).long()
    return DataProto.from_dict(
        tensors={"prompts": prompt, "responses": response, "attention_mask": mask},
        non_tensors={"data_source": np.array(["geo3k"], dtype=object),
                     "reward_model": np.array([{"ground_truth": "4"}], dtype=object),
                     "extra_info": np.array([{"answer_type": "math"}], dtype=object)},
    )


@pytest.fixture(scope="module")
def tokenizer():
    from recipe.vogue.cpu import tiny

    return tiny.build_tokenizer()


@pytest.mark.parametrize("length", [30, 48, 49, 56, 64])
def test_overlong_shaping_values_through_verls_dapo_manager(compose, tokenizer, length):
    from verl.trainer.ppo.reward import load_reward_manager

    keys = [f"data.max_response_length={RESPONSE_LENGTH}", f"reward.custom_reward_function.path={ENTRY_FILE}",
            "reward.reward_kwargs.overlong_buffer_cfg.len=16"]
    dapo = load_reward_manager(compose(["base=dapo", *keys]), tokenizer)
    naive = load_reward_manager(compose(keys[:2]), tokenizer)
    row = _scored_row(tokenizer, "<think>2+2</think> The answer is \\boxed{4}.", length)
    shaped = dapo.loop.run_until_complete(dapo.run_single(row))  # the managers' own event loop
    plain = naive.loop.run_until_complete(naive.run_single(row))
    expected_penalty = min(-(length - (RESPONSE_LENGTH - 16)) / 16 * 1.0, 0.0)  # DAPO eq. 13, by hand
    score = vogue_reward.compute_score("geo3k", tokenizer.decode(row.batch["responses"][0, :length]), "4",
                                       {"answer_type": "math"}, format_weight=0.1)["score"]
    assert plain["reward_score"] == pytest.approx(score) and score == pytest.approx(1.0)
    assert shaped["reward_score"] == pytest.approx(score + expected_penalty)
    assert float(shaped["reward_extra_info"]["overlong_reward"]) == pytest.approx(expected_penalty)
    assert shaped["reward_extra_info"]["acc"] == 1.0  # the filter's metric is untouched by the penalty
    assert bool(shaped["reward_extra_info"]["overlong"]) == (length > RESPONSE_LENGTH - 16)
