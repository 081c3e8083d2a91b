"""Per-type matchers: letter parsing, option texts, yes/no, numbers, text; bad ground truths."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vogue_reward.matchers import (
    BadGroundTruth,
    letter_of_option_text,
    match_choice,
    match_number,
    match_text,
    match_yesno,
    parse_letters,
    yes_or_no,
)


@pytest.mark.parametrize(
    ("text", "n_choices", "expected"),
    [
        ("B", 4, {"B"}),
        ("(b)", 4, {"B"}),
        ("B) 12", 4, {"B"}),
        ("B - 12", 4, {"B"}),
        ("The answer is C", 4, {"C"}),
        ("A, C", 4, {"A", "C"}),
        ("C and A", 4, {"A", "C"}),
        ("AC", 4, {"A", "C"}),
        ("E", 4, None),  # beyond the options
        ("J", None, {"J"}),
        ("K", None, None),
        ("A triangle", 4, None),
        ("NO", 4, None),
        ("AA", 4, None),
        ("12", 4, None),
        ("", 4, None),
        ("ß", 4, None),  # found by the fuzz: "ß".upper() == "SS"
        ("É", 10, None),
    ],
)
def test_parse_letters(text, n_choices, expected):
    assert parse_letters(text, n_choices) == (None if expected is None else frozenset(expected))


@settings(derandomize=True)
@given(st.sets(st.sampled_from("ABCDE"), min_size=1), st.sampled_from([", ", " and ", " ", ";"]), st.booleans())
def test_any_written_letter_set_parses_back(letters, separator, parenthesised):
    for order in itertools.islice(itertools.permutations(sorted(letters)), 3):
        text = separator.join(f"({item})" if parenthesised else item for item in order)
        assert parse_letters(text, 5) == frozenset(letters)


def test_option_text_must_identify_one_option():
    assert letter_of_option_text("12.0", ["10", "12", "14"]) == "B"
    assert letter_of_option_text(r"\text{Square}", ["square", "circle"]) == "A"
    assert letter_of_option_text("12", ["12", "12"]) is None
    assert letter_of_option_text("13", ["12", "14"]) is None


def test_match_choice_maps_option_text_ground_truth_and_reports_canonical_pred():
    assert match_choice("14", "14", ["10", "12", "14"]) == (1.0, "C")  # geo3k-style value ground truth
    assert match_choice("C, A", "A, C", None) == (1.0, "A, C")
    assert match_choice(None, "A", None) == (0.0, "")


@pytest.mark.parametrize("truth", ["Z", "12", "", "A, Q"])
def test_match_choice_rejects_ground_truths_that_are_not_letters(truth):
    with pytest.raises(BadGroundTruth, match="ground_truth"):
        match_choice("A", truth, ["1", "2"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Yes", "yes"), ("yes, because", "yes"), ("TRUE", "yes"), ("No.", "no"), ("false", "no"), ("**No**", "no"),
     (r"\text{Yes}", "yes"), ("Not really", None), ("Yesterday", None), ("", None), ("1", None),
     ("yes or no", None), ("Yes/No", None), ("no and yes", None), ("yes, no", None), ("Yes, maybe", None),
     ("Yes, there is no dog.", "yes"), ("No, it is not.", "no")],
)
def test_yes_or_no(text, expected):
    assert yes_or_no(text) == expected


@pytest.mark.parametrize("truth", ["1", "0", "maybe", "yes no"])
def test_match_yesno_rejects_other_ground_truths(truth):
    with pytest.raises(BadGroundTruth):
        match_yesno("yes", truth)


def test_match_number_pred_is_canonical_and_bad_truth_raises():
    assert match_number("1,234", "1234", "exact", None) == (1.0, "1234")
    assert match_number(r"45\%", "0.45", "exact", None) == (1.0, "45%")
    assert match_number("1.45", "1.45", "precision", 2) == (1.0, "1.45")
    assert match_number(r"\frac{1}{3}", "0.33", "mmmu", None) == (1.0, "1/3")
    assert match_number("12.5", "12", "relaxed", None) == (1.0, "12.5")
    assert match_number("12.5", "12", "exact", None) == (0.0, "12.5")
    with pytest.raises(BadGroundTruth):
        match_number("12", "about twelve", "exact", None)


def test_match_text():
    assert match_text(" New  York. ", "new york") == (1.0, "new york")
    assert match_text(None, "x") == (0.0, "")
    with pytest.raises(BadGroundTruth):
        match_text("x", "  ")
