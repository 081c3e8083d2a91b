"""compute_score: weights, result keys, rejected responses, bad rows, settings, verl integration."""

import logging
import os
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

import vogue_reward
from vogue_reward import compute_score, compute_score_batch, score
from vogue_reward.answer_types import NUMERIC_RULES, infer_answer_type, infer_numeric_rule

from .cases_table import all_cases

ENTRY_FILE = os.path.join(os.path.dirname(vogue_reward.__file__), "verl_entry.py")
CORRECT = "<think>2+2</think> The answer is \\boxed{4}."
MATH = {"answer_type": "math"}


def _assert_result_shape(result):
    assert tuple(result) == score.RESULT_KEYS
    for key in score.RESULT_KEYS:
        if key in score.TEXT_KEYS:
            assert isinstance(result[key], str), key
        else:
            assert isinstance(result[key], float) and 0.0 <= result[key] <= 1.0, key


@pytest.mark.parametrize(
    ("response", "format_weight", "expected"),
    [
        (CORRECT, 0.1, (1.0, 1.0, 1.0)),
        ("\\boxed{4}", 0.1, (0.9, 1.0, 0.0)),
        ("<think>2+2</think> \\boxed{5}", 0.1, (0.1, 0.0, 1.0)),
        ("\\boxed{5}", 0.1, (0.0, 0.0, 0.0)),
        ("\\boxed{4}", 0.0, (1.0, 1.0, 0.0)),  # the authors' code: score = acc
        ("<think>2+2</think> \\boxed{5}", 0.0, (0.0, 0.0, 1.0)),
        ("<think>2+2</think> \\boxed{5}", 1.0, (1.0, 0.0, 1.0)),
    ],
)
def test_score_is_the_weighted_sum(response, format_weight, expected):
    result = compute_score("geo3k", response, "4", MATH, format_weight=format_weight)
    assert (result["score"], result["acc"], result["format"]) == pytest.approx(expected)
    _assert_result_shape(result)


@settings(derandomize=True)
@given(st.floats(0, 1), st.sampled_from([CORRECT, "\\boxed{4}", "<think>a</think>\\boxed{3}", "4"]))
def test_score_formula_for_any_weight(format_weight, response):
    result = compute_score("geo3k", response, "4", MATH, format_weight=format_weight)
    assert result["score"] == pytest.approx((1 - format_weight) * result["acc"] + format_weight * result["format"])


@pytest.mark.parametrize(
    "response",
    [None, 12, b"\\boxed{4}", "x" * (score.DEFAULT_MAX_RESPONSE_CHARS + 1), "<|image_pad|>" * 3 + CORRECT,
     CORRECT.replace("2+2", "2<|vision_start|>2"), CORRECT + "<|im_start|>"],
)
def test_rejected_responses_score_zero(response):
    result = compute_score("geo3k", response, "4", MATH)
    assert result["rejected"] == 1.0 and result["score"] == 0.0
    _assert_result_shape(result)


def test_end_of_turn_tokens_are_not_a_rejection_and_the_cap_is_configurable():
    assert compute_score("geo3k", CORRECT + "<|im_end|>\n<|endoftext|>", "4", MATH)["score"] == 1.0
    assert compute_score("geo3k", CORRECT, "4", MATH, max_response_chars=10)["rejected"] == 1.0


@pytest.mark.parametrize(
    ("ground_truth", "extra_info", "field"),
    [
        (None, MATH, "ground_truth"),
        (["4"], MATH, "ground_truth"),
        ("", MATH, "ground_truth"),
        ("4", {"answer_type": "maths"}, "extra_info.answer_type"),
        ("A", {"answer_type": "choice", "choices": "A. 1 B. 2"}, "extra_info.choices"),
        ("A", {"answer_type": "choice", "choices": ["1", "2"]}, None),
        ("A", {"answer_type": "choice", "choices": np.array("1 2")}, "extra_info.choices"),
        ("A", {"answer_type": "choice", "choices": 3}, "extra_info.choices"),
        ("Q", {"answer_type": "choice", "choices": ["1", "2"]}, "ground_truth"),
        ("1", {"answer_type": "yesno"}, "ground_truth"),
        ("4", {"answer_type": "number", "precision": "two"}, "extra_info.precision"),
        ("4", {"answer_type": "number", "precision": 2.5}, "extra_info.precision"),
        ("4", {"answer_type": "number", "precision": np.int64(2)}, None),
        ("4", {"answer_type": "number", "precision": float("nan")}, None),
        ("four", {"answer_type": "number"}, "ground_truth"),
        (float("nan"), MATH, "ground_truth"),
        (np.float64("nan"), MATH, "ground_truth"),
        (float("inf"), MATH, "ground_truth"),
        (True, MATH, "ground_truth"),
        (np.bool_(True), MATH, "ground_truth"),
        ("4", {"answer_type": "number", "numeric_rule": "loose"}, "extra_info.numeric_rule"),
        ("4", {"answer_type": "number", "numeric_rule": 5}, "extra_info.numeric_rule"),
        ("4", {"answer_type": "number", "numeric_rule": "relaxed", "precision": 2}, "extra_info.precision"),
        ("4", {"answer_type": "number", "numeric_rule": "precision", "precision": 2}, None),
        ("4", {"answer_type": "number", "numeric_rule": None}, None),
        ("4", {"answer_type": "number", "numeric_rule": float("nan")}, None),
    ],
)
def test_bad_rows_are_counted_and_reported_once(ground_truth, extra_info, field, caplog):
    score._reported.clear()
    with caplog.at_level(logging.WARNING, logger="vogue_reward.score"):
        results = [compute_score("src", CORRECT, ground_truth, extra_info) for _ in range(3)]
    for result in results:
        _assert_result_shape(result)
        assert result["bad_row"] == float(field is not None)
    reports = [record.getMessage() for record in caplog.records if "bad row" in record.getMessage()]
    if field is None:
        assert not reports
    else:
        assert len(reports) == 1 and field in reports[0] and "src" in reports[0]


@pytest.mark.parametrize(
    ("ground_truth", "response", "expected"),
    [(4, "\\boxed{4}", 1.0), (np.int64(4), "\\boxed{4}", 1.0), (np.float64(4.0), "\\boxed{4}", 1.0), (4.0, "\\boxed{4}", 1.0),
     (np.int32(-7), "\\boxed{-7}", 1.0), (np.float32(0.1), "\\boxed{0.1}", 1.0), (0.1, "\\boxed{0.1}", 1.0),
     (10**50 + 1, f"\\boxed{{{10**50 + 1}}}", 1.0), (10**50 + 1, f"\\boxed{{{10**50}}}", 0.0),
     (np.uint64(2**64 - 1), f"\\boxed{{{2**64 - 1}}}", 1.0), (np.uint64(2**64 - 1), f"\\boxed{{{2**64 - 2}}}", 0.0),
     (np.float64(1e16), "\\boxed{10000000000000000}", 1.0)],
)
def test_numeric_ground_truths_python_or_numpy_are_read_exactly(ground_truth, response, expected):
    for answer_type in ("math", "number"):
        result = compute_score("src", response, ground_truth, {"answer_type": answer_type})
        assert (result["acc"], result["bad_row"]) == (expected, 0.0), (answer_type, result)


def test_extra_info_as_read_back_from_parquet():
    """verl hands over numpy arrays for list fields; a missing answer_type falls back to inference."""
    choices = np.array(["10", "12", "14"], dtype=object)
    result = compute_score("mathvista", "<think>a</think>\\boxed{12}", "B", {"answer_type": "choice", "choices": choices})
    assert result["acc"] == 1.0 and result["pred"] == "B"
    assert compute_score("mathvista", "\\boxed{B}", "B", {"answer_type": None, "choices": choices})["acc"] == 1.0
    assert compute_score("hallusionbench", "\\boxed{Yes}", "yes", None)["acc"] == 1.0
    assert compute_score("chartqa", "\\boxed{12.3}", "12", None)["acc"] == 1.0
    assert compute_score("chartqa", "\\boxed{12.3}", "12", "not a dict")["bad_row"] == 1.0


@pytest.mark.parametrize(
    ("data_source", "truth", "choices", "expected"),
    [("hallusionbench", "no", None, "yesno"), ("mathverse", "Yes", None, "yesno"), ("mmstar", "C", None, "choice"),
     ("logicvista", "A, C", ["1", "2", "3"], "choice"), ("logicvista", "A, C", None, "math"),
     ("chartqa", "12.5", None, "number"), ("chartqa", "Asia", None, "text"), ("chartqa", "B", None, "choice"),
     ("geo3k", "12", None, "math"), ("virl39k", r"\frac{1}{2}", None, "math")],
)
def test_infer_answer_type(data_source, truth, choices, expected):
    assert infer_answer_type(data_source, truth, choices) == expected


@pytest.mark.parametrize(
    ("data_source", "precision", "expected"),
    [("chartqa", None, "relaxed"), ("mathvista", None, "precision"), ("mathvista", 2, "precision"), ("mmmu", None, "mmmu"),
     ("mathverse", None, "exact"), ("geo3k", 1, "precision"), ("ChartQA", None, "exact"), ("", None, "exact")],
)
def test_infer_numeric_rule_never_loosens_an_exact_benchmark(data_source, precision, expected):
    assert infer_numeric_rule(data_source, precision) == expected
    assert expected in NUMERIC_RULES


BAD_SETTINGS = [
    ("format_weight", value) for value in (1.5, -0.1, None, "0.1", True, float("nan"), float("inf"), [0.1])
] + [
    ("math_timeout", value) for value in (0, -1, None, "5", True, float("nan"), float("inf"), 1e7, score.MAX_MATH_TIMEOUT + 1)
] + [("max_response_chars", value) for value in (0, -1, None, 1.5, "100", float("inf"))]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_settings_raise_a_value_error_naming_the_setting(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        compute_score("geo3k", CORRECT, "4", MATH, **{name: value})
    with pytest.raises(ValueError, match=f"^{name} must be"):
        compute_score_batch(["geo3k"], [CORRECT], ["4"], [MATH], **{name: value})


def test_an_unknown_setting_raises_a_type_error_naming_it():
    with pytest.raises(TypeError, match="format_wieght"):
        compute_score("geo3k", CORRECT, "4", MATH, format_wieght=0.1)
    with pytest.raises(TypeError, match="format_wieght"):
        compute_score_batch(["geo3k"], [CORRECT], ["4"], [MATH], format_wieght=0.1)


@pytest.mark.parametrize(
    "settings",
    [{"format_weight": 0}, {"format_weight": 1}, {"format_weight": np.float64(0.25)}, {"math_timeout": score.MAX_MATH_TIMEOUT},
     {"math_timeout": np.int64(3)}, {"max_response_chars": 1e5}, {"max_response_chars": np.int64(100_000)}],
)
def test_good_settings_of_any_numeric_type_are_accepted(settings):
    assert compute_score("geo3k", CORRECT, "4", MATH, **settings)["acc"] == 1.0


def test_keywords_verl_adds_are_accepted():
    result = compute_score("geo3k", CORRECT, "4", MATH, reward_router_address=None, reward_model_tokenizer=None)
    assert result["score"] == 1.0


def test_a_failing_matcher_is_counted_not_raised(monkeypatch, caplog):
    def broken(*args):
        raise KeyError("bug")

    monkeypatch.setattr(score, "match_yesno", broken)
    score._reported.clear()
    with caplog.at_level(logging.WARNING, logger="vogue_reward.score"):
        result = compute_score("hallusionbench", "\\boxed{yes}", "yes", {"answer_type": "yesno"})
    assert result["internal_error"] == 1.0 and result["score"] == 0.0
    _assert_result_shape(result)
    assert any(record.exc_info for record in caplog.records)


VERL_OVERRIDES = [  # exactly as docs/rewards.md "Rewards and answer types" shows them
    f"reward.custom_reward_function.path={ENTRY_FILE}",
    "reward.custom_reward_function.name=compute_score",
    "+reward.custom_reward_function.reward_kwargs.format_weight=0.0",
]


def test_loaded_by_path_the_way_verl_loads_it():
    from hydra import compose, initialize_config_module
    from verl.trainer.ppo.reward import get_custom_reward_fn

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        config = compose(config_name="ppo_trainer", overrides=VERL_OVERRIDES)
    reward_fn = get_custom_reward_fn(config)
    result = reward_fn(data_source="geo3k", solution_str="\\boxed{4}", ground_truth="4", extra_info=MATH)
    assert result["score"] == result["acc"] == 1.0 and result["format"] == 0.0


class _CharTokenizer:
    """Token id = code point; enough for verl's reward manager to decode responses."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i)) for i in ids)


def test_verl_naive_reward_manager_scores_through_its_executor_threads():
    """verl 0.9.1's reward loop decodes a response and calls compute_score in an executor thread."""
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = OmegaConf.create({"reward": {"custom_reward_function": {"path": ENTRY_FILE, "name": "compute_score"}}})
    manager = NaiveRewardManager(config, _CharTokenizer(), get_custom_reward_fn(config))
    responses = ["<think>r</think> \\boxed{2\\sqrt{3}}", "<think>r</think> \\boxed{3}"]
    width = max(map(len, responses)) + 2
    outputs = []
    for response in responses:
        ids = torch.tensor([[ord(c) for c in response] + [0] * (width - len(response))])
        mask = torch.cat([torch.ones(1, 3), (torch.arange(width) < len(response)).float()[None]], dim=1)
        data = DataProto.from_dict(
            tensors={"prompts": torch.ones(1, 3, dtype=torch.long), "responses": ids, "attention_mask": mask.long()},
            non_tensors={
                "data_source": np.array(["geo3k"], dtype=object),
                "reward_model": np.array([{"ground_truth": r"\sqrt{12}"}], dtype=object),
                "extra_info": np.array([{"answer_type": "math"}], dtype=object),
            },
        )
        outputs.append(manager.loop.run_until_complete(manager.run_single(data)))
    assert [output["reward_score"] for output in outputs] == [1.0, 0.1]
    assert set(outputs[0]["reward_extra_info"]) == set(score.RESULT_KEYS)


def test_concurrent_threads_agree_with_sequential_calls():
    cases = [case for case in all_cases() if case[1] == "math"][:40]

    def run(case):
        source, answer_type, response, truth, extra, _ = case
        return compute_score(source, response, truth, {"answer_type": answer_type, **extra})["acc"]

    sequential = [run(case) for case in cases]
    results = [None] * len(cases)

    def worker(offset):
        for index in range(offset, len(cases), 6):
            results[index] = run(cases[index])

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == sequential == [case[-1] for case in cases]


def test_batch_matches_single_calls_in_order():
    cases = all_cases()[::3]
    sources = [case[0] for case in cases]
    responses = [case[2] for case in cases]
    truths = [case[3] for case in cases]
    infos = [{"answer_type": case[1], **case[4]} for case in cases]
    batch = compute_score_batch(sources, responses, truths, infos, format_weight=0.0)
    assert batch == [compute_score(*row, format_weight=0.0) for row in zip(sources, responses, truths, infos)]
    assert [result["acc"] for result in batch] == [case[-1] for case in cases]


def test_batch_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="lengths differ"):
        compute_score_batch(["a"], ["x", "y"], ["1", "2"])


def test_batch_entry_is_exposed_by_the_verl_file():
    from verl.utils.import_utils import load_extern_object

    batch_fn = load_extern_object(ENTRY_FILE, "compute_score_batch")
    results = batch_fn(data_sources=["geo3k"] * 2, solution_strs=[CORRECT, "x"], ground_truths=["4", "4"], extra_infos=[MATH, MATH])
    assert [result["score"] for result in results] == [1.0, 0.0]


@pytest.mark.parametrize(
    ("extra_info", "expected"),
    [
        ({"index": 7}, "7"),
        ({"index": np.int64(7)}, "7"),
        ({"index": 7.0}, "7"),  # a pandas column holding a missing value turns integers into floats
        ({"index": "q-12"}, "q-12"),
        ({"index": 0.5}, "0.5"),
        ({"index": None}, ""),
        ({"index": float("nan")}, ""),
        ({}, ""),
        (None, ""),
        ("not a dict", ""),
    ],
)
def test_row_identity_is_returned_as_text(extra_info, expected):
    result = compute_score("mathverse", CORRECT, "4", extra_info)
    _assert_result_shape(result)
    assert (result["row_source"], result["row_id"]) == ("mathverse", expected)


def test_row_identity_survives_rejected_responses_and_matcher_bugs(monkeypatch):
    rejected = compute_score("geo3k", None, "4", {"index": 3})
    assert rejected["rejected"] == 1.0 and (rejected["row_source"], rejected["row_id"]) == ("geo3k", "3")

    def broken(*args, **kwargs):
        raise RuntimeError("matcher bug")

    monkeypatch.setattr(score, "_match", broken)
    failed = compute_score("geo3k", CORRECT, "4", {"index": 4, **MATH})
    _assert_result_shape(failed)
    assert failed["internal_error"] == 1.0 and (failed["row_source"], failed["row_id"]) == ("geo3k", "4")


def test_batch_returns_each_rows_identity():
    results = compute_score_batch(["a", "b"], [CORRECT, CORRECT], ["4", "4"], [{"index": 1, **MATH}, {"index": 2, **MATH}])
    assert [(r["row_source"], r["row_id"]) for r in results] == [("a", "1"), ("b", "2")]


def test_result_keys_never_overwrite_verls_batch_columns():
    """verl writes every reward key into the rollout's non-tensor columns and unions them with the batch,
    asserting equality on shared keys: a key such as data_source would fail that assertion (dtype)."""
    assert not set(score.RESULT_KEYS) & {"data_source", "reward_model", "extra_info", "uid", "index", "raw_prompt"}
