"""The hand-labelled table: every (data source, answer type, response, ground truth) gets the expected acc."""

import pytest

from vogue_reward import compute_score

from .cases_table import all_cases, new_cases

CASES = all_cases()


def test_the_table_is_large_and_covers_every_type_and_both_verdicts():
    assert len(CASES) >= 300 and len(new_cases()) >= 100
    for answer_type in ("math", "choice", "yesno", "number", "text"):
        verdicts = {acc for _, kind, *_, acc in CASES if kind == answer_type}
        assert verdicts == {0, 1}, answer_type


@pytest.mark.parametrize(("data_source", "answer_type", "response", "ground_truth", "extra", "expected"), CASES)
def test_case(data_source, answer_type, response, ground_truth, extra, expected):
    extra_info = {"answer_type": answer_type, "question": "q", "split": "test", "index": 0, **extra}
    result = compute_score(data_source, response, ground_truth, extra_info)
    assert result["acc"] == expected, result
    assert result["bad_row"] == result["internal_error"] == result["verify_failed"] == 0.0
