"""The hand-labelled table: every (response, ground truth, answer type) gets the expected acc."""

import pytest

from vogue_reward import compute_score

from .cases_table import all_cases

CASES = all_cases()


def test_the_table_is_large_and_covers_every_type_and_both_verdicts():
    assert len(CASES) >= 200
    for answer_type in ("math", "choice", "yesno", "number", "text"):
        verdicts = {acc for kind, *_, acc in CASES if kind == answer_type}
        assert verdicts == {0, 1}, answer_type


@pytest.mark.parametrize(("answer_type", "response", "ground_truth", "extra", "expected"), CASES)
def test_case(answer_type, response, ground_truth, extra, expected):
    extra_info = {"answer_type": answer_type, "question": "q", "split": "test", "index": 0, **extra}
    result = compute_score("table", response, ground_truth, extra_info)
    assert result["acc"] == expected, result
    assert result["bad_row"] == result["internal_error"] == result["verify_failed"] == 0.0
