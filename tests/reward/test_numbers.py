"""Numbers in answers and the ChartQA / MathVista comparisons, against hand-computed values."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vogue_reward.numbers import ParsedNumber, parse_number, plain_number_readings, relaxed_match, rounded_match


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", ParsedNumber(12.0, False)),
        ("-0.35", ParsedNumber(-0.35, False)),
        ("−3", ParsedNumber(-3.0, False)),
        ("1,234.5", ParsedNumber(1234.5, False)),
        ("3/4", ParsedNumber(0.75, False)),
        (r"\frac{3}{4}", ParsedNumber(0.75, False)),
        (r"\dfrac{-1}{8}", ParsedNumber(-0.125, False)),
        (r"45\%", ParsedNumber(45.0, True)),
        ("45 percent", ParsedNumber(45.0, True)),
        (r"$1.2$ million", ParsedNumber(1.2, False)),
        (r"30^\circ", ParsedNumber(30.0, False)),
        ("12 cm", ParsedNumber(12.0, False)),
        ("2e3", ParsedNumber(2000.0, False)),
        ("1, 2", None),
        ("2019: 12", None),
        ("1,2345", None),
        ("1/0", None),
        ("ten", None),
        ("", None),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_huge_numbers_parse_to_infinity_not_an_error():
    assert parse_number("9" * 5000).value == math.inf


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_parse_number_reads_back_formatted_floats(value):
    for text in (repr(value), f"{value:,}", f"${value}$ cm"):
        assert parse_number(text).value == pytest.approx(value, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [(105, 100, True), (95, 100, True), (105.01, 100, False), (94.99, 100, False), (-105, -100, True),
     (100, -100, False), (0, 0, True), (1e-9, 0, False)],
)
def test_relaxed_match_hand_values(prediction, target, expected):
    assert relaxed_match(prediction, target) is expected


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_relaxed_match_is_the_chartqa_formula(prediction, target):
    expected = abs(prediction - target) / abs(target) <= 0.05 if target else prediction == target
    assert relaxed_match(prediction, target) == expected


@pytest.mark.parametrize(
    ("prediction", "target", "precision", "expected"),
    [(1.449, 1.45, 2, True), (1.46, 1.45, 2, False), (3.14, 3.1, 1, True), (7.4, 7, 0, True), (7.6, 7, 0, False)],
)
def test_rounded_match(prediction, target, precision, expected):
    assert rounded_match(prediction, target, precision) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", (12.0,)), ("15%", (15.0, 0.15)), (r"15\%", (15.0, 0.15)), ("1,000", (1000.0,)), ("x", None),
     ("15%%", None), (r"\frac{1}{2}", None)],
)
def test_plain_number_readings(text, expected):
    assert plain_number_readings(text) == expected
