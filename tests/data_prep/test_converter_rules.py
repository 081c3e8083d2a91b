"""The shared converter rules on their own: boxed answers, choice-or-math, numbered placeholders."""

import pytest

from data_prep.converters.common import choice_or_math, letter_of_choice, numbered_placeholders, strip_boxed
from data_prep.errors import BadRow


@pytest.mark.parametrize(
    "answer, expected",
    [("\\boxed{5}", "5"), ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"), ("so \\boxed{1} or \\boxed{ 2 }", "2"),
     ("12", "12"), (None, ""), (7, "7")],
)
def test_strip_boxed(answer, expected):
    assert strip_boxed(answer) == expected


def test_strip_boxed_refuses_unbalanced_braces():
    with pytest.raises(BadRow, match="unbalanced"):
        strip_boxed("\\boxed{\\frac{1}{2}")


@pytest.mark.parametrize(
    "question, answer, expected",
    [("Pick.\nA. 1\nB. 2", "B", ("choice", ["1", "2"])), ("Pick.\nA. 1\nB. 2", "(b)", ("choice", ["1", "2"])),
     ("Find x.", "B", ("math", None)), ("Pick.\nA. 1\nB. 2", "2", ("math", None)), (None, "A", ("math", None))],
)
def test_choice_or_math(question, answer, expected):
    assert choice_or_math(question, answer) == expected


def test_letter_of_choice_matches_stripped_text():
    assert letter_of_choice(" 4 ", ["3", "4 "], "answer") == "B"
    with pytest.raises(BadRow, match="missing answer"):
        letter_of_choice(None, ["3"], "answer")


def test_numbered_placeholders_order_repeats_and_gaps():
    text, images, columns = numbered_placeholders("<image 2> then <image1> and <image 2>", {1: "one", 2: "two", 3: "three"},
                                                  lambda n: f"image_{n}")
    assert text == "<image><image> then <image> and <image>"
    assert images == ["three", "two", "one", "two"] and columns == ["image_3", "image_2", "image_1", "image_2"]
    with pytest.raises(BadRow) as caught:
        numbered_placeholders("<image 4>", {1: "one"}, lambda n: f"image_{n}")
    assert caught.value.field == "image_4"
