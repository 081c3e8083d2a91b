"""Each benchmark's own metrics against a hand-computed table."""

import math

import pytest

from recipe.vogue.evaluation.metrics import (
    Generation,
    hallusionbench_metrics,
    mathverse_metrics,
    mathvista_metrics,
    wemath_metrics,
)


def rows(data_source, table, fields):
    """Generations from (correct, *field values) tuples; row ids are positions."""
    return [
        Generation(data_source, str(i), acc=float(correct), score=float(correct), decoding="greedy",
                   extra_info=dict(zip(fields, values)))
        for i, (correct, *values) in enumerate(table)
    ]


WEMATH = [  # (correct, ID, key)
    (1, "a", "2steps_1"), (1, "a", "2steps_2"), (1, "a", "2steps_multi"),  # CM strict + loose
    (1, "b", "2steps_1"), (0, "b", "2steps_2"), (1, "b", "2steps_multi"),  # RM strict, CM loose
    (0, "c", "2steps_1"), (0, "c", "2steps_2"), (1, "c", "2steps_multi"),  # RM strict + loose
    (1, "d", "2steps_1"), (1, "d", "2steps_2"), (0, "d", "2steps_multi"),  # IG
    (0, "e", "2steps_1"), (1, "e", "2steps_2"), (0, "e", "2steps_multi"),  # IK
    (1, "f", "3steps_1"), (1, "f", "3steps_2"), (1, "f", "3steps_3"), (1, "f", "3steps_multi"),  # CM strict + loose
    (0, "g", "3steps_1"), (0, "g", "3steps_2"), (0, "g", "3steps_3"), (0, "g", "3steps_multi"),  # IK
    (1, "h", "2steps_1"),  # incomplete: no 2steps_2, no multi
]


def test_wemath_four_dimensional_metrics():
    metrics = wemath_metrics(rows("wemath", WEMATH, ("ID", "key")))
    expected = {
        "acc": 14 / 24,
        "score_strict": (7 - 0.5 * 1 - 2 - 2) / 7,
        "score_loose": (7 - 0.5 * 1 - 1 - 2) / 7,
        "IK": 2 / 7,
        "IG": 1 / 7,
        "CM_strict": 2 / 7,
        "CM_loose": 3 / 7,
        "RM_strict": 2 / 4,
        "RM_loose": 1 / 4,
        "S1": 9 / 16,
        "S2": 3 / 5,
        "S3": 1 / 2,
        "groups": 7,
        "incomplete_groups": 1,
    }
    assert list(metrics) == list(expected)
    assert metrics == pytest.approx(expected)


def test_wemath_rote_memorization_is_undefined_without_a_right_multi_step_answer():
    metrics = wemath_metrics(rows("wemath", [(1, "x", "2steps_1"), (1, "x", "2steps_2"), (0, "x", "2steps_multi")], ("ID", "key")))
    assert metrics["IG"] == 1.0 and metrics["score_strict"] == 0.5
    assert math.isnan(metrics["RM_strict"]) and math.isnan(metrics["RM_loose"])


def test_wemath_rejects_bad_keys_and_data_without_a_complete_group():
    with pytest.raises(ValueError, match="'1step'"):
        wemath_metrics(rows("wemath", [(1, "x", "1step")], ("ID", "key")))
    with pytest.raises(ValueError, match="no complete WeMath group"):
        wemath_metrics(rows("wemath", [(1, "x", "2steps_1"), (1, "x", "2steps_multi")], ("ID", "key")))


HALLUSION_FIELDS = ("category", "subcategory", "set_id", "figure_id", "question_id")
HALLUSION = [  # (correct, category, subcategory, set_id, figure_id, question_id)
    (1, "VD", "chart", "0", "0", "0"),
    (0, "VD", "chart", "0", "1", "0"),
    (1, "VD", "chart", "0", "0", "1"),
    (1, "VD", "chart", "0", "1", "1"),
    (1, "VS", "map", "1", "0", "0"),  # no figure: left out of fAcc, kept in qAcc
    (1, "VS", "map", "1", "1", "0"),
    (0, "VS", "map", "1", "2", "0"),
]


def test_hallusionbench_question_figure_and_pair_accuracies():
    metrics = hallusionbench_metrics(rows("hallusionbench", HALLUSION, HALLUSION_FIELDS))
    # figures: VD/chart/0/{0: ✓✓, 1: ✗✓}, VS/map/1/{1: ✓, 2: ✗}; pairs: VD q0 ✓✗, VD q1 ✓✓, VS q0 ✓✓✗
    assert metrics == pytest.approx(
        {"aAcc": 5 / 7, "fAcc": 2 / 4, "qAcc": 1 / 3, "questions": 7, "figures": 4, "question_pairs": 3}
    )


MATHVERSE = [  # (correct, problem_version)
    (1, "Vision Only"), (0, "Vision Only"),
    (1, "Text Dominant"), (1, "Text Dominant"),
    (0, "Text Lite"), (1, "Text Lite"),
    (0, "Vision Intensive"), (0, "Vision Intensive"),
]


def test_mathverse_accuracy_per_problem_version_in_the_benchmark_order():
    metrics = mathverse_metrics(rows("mathverse", MATHVERSE, ("problem_version",)))
    assert metrics == {
        "acc": 4 / 8,
        "problem_version/Text Dominant": 1.0,
        "problem_version/Text Lite": 0.5,
        "problem_version/Vision Intensive": 0.0,
        "problem_version/Vision Only": 0.5,
    }
    assert list(metrics)[1:] == ["problem_version/Text Dominant", "problem_version/Text Lite",
                                 "problem_version/Vision Intensive", "problem_version/Vision Only"]


def test_mathvista_accuracy_per_task_and_question_type():
    table = [  # (correct, task, question_type)
        (1, "geometry problem solving", "multi_choice"),
        (0, "geometry problem solving", "free_form"),
        (1, "figure question answering", "free_form"),
        (1, "figure question answering", "free_form"),
        (0, "math word problem", "multi_choice"),
    ]
    metrics = mathvista_metrics(rows("mathvista", table, ("task", "question_type")))
    assert metrics == pytest.approx({
        "acc": 3 / 5,
        "task/figure question answering": 1.0,
        "task/geometry problem solving": 0.5,
        "task/math word problem": 0.0,
        "question_type/free_form": 2 / 3,
        "question_type/multi_choice": 0.5,
    })


def test_benchmark_metrics_need_one_response_per_row_and_their_fields():
    generations = rows("mathverse", MATHVERSE, ("problem_version",))
    with pytest.raises(ValueError, match="row '0' of mathverse appears twice"):
        mathverse_metrics(generations + generations[:1])
    with pytest.raises(ValueError, match=r"row '0' of mathvista has no extra_info.task, extra_info.question_type"):
        mathvista_metrics(rows("mathvista", [(1,)], ()))
    with pytest.raises(ValueError, match="no rows"):
        hallusionbench_metrics([])
