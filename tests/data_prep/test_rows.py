"""build_row and the ground-truth conventions shared with vogue_reward."""

import io

import pytest
from data_prep_fixtures import png
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from data_prep.errors import BadRow
from data_prep.rows import (
    INSTRUCTION,
    as_number,
    build_row,
    normalise_ground_truth,
    normalise_letters,
    parse_inline_options,
    render_choices,
)

PAPER_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."
)


def test_instruction_is_the_papers_text():
    assert INSTRUCTION == PAPER_INSTRUCTION


@pytest.mark.parametrize(
    "answer, expected",
    [("b", "B"), ("(B)", "B"), ("B.", "B"), ("A, C", "A, C"), ("C,A", "A, C"), ("C and A", "A, C"),
     ("AC", "A, C"), (" D ", "D"), ("[B]", "B")],
)
def test_normalise_letters_accepts_the_usual_forms(answer, expected):
    assert normalise_letters(answer) == expected


@pytest.mark.parametrize("answer", ["B12", "", "A, 3", "AA", "two", "CA", "AZ"])
def test_normalise_letters_rejects_non_letters(answer):
    with pytest.raises(BadRow) as caught:
        normalise_letters(answer)
    assert caught.value.field == "ground_truth"


def test_normalise_letters_rejects_letters_beyond_the_choices():
    assert normalise_letters("D", n_choices=4) == "D"
    with pytest.raises(BadRow, match="beyond the choices"):
        normalise_letters("E", n_choices=4)


@pytest.mark.parametrize(
    "text, expected",
    [("12", "12"), (" -4 ", "-4"), ("0.35", "0.35"), ("+5", "5"), ("1,234", "1234"), ("1,234.5", "1234.5"),
     ("1e3", "1e3"), (".5", ".5"), ("12 cm", None), ("1,23", None), ("45%", None), ("x", None), ("", None)],
)
def test_as_number(text, expected):
    assert as_number(text) == expected


@pytest.mark.parametrize(
    "answer, answer_type, expected",
    [("Yes.", "yesno", "yes"), ("NO", "yesno", "no"), ("1,000", "number", "1000"), (" \\frac{1}{2} ", "math", "\\frac{1}{2}"),
     ("Blue ", "text", "Blue"), ("c", "choice", "C")],
)
def test_normalise_ground_truth(answer, answer_type, expected):
    assert normalise_ground_truth(answer, answer_type) == expected


@pytest.mark.parametrize(
    "answer, answer_type, reason",
    [(None, "math", "missing answer"), ("  ", "text", "missing answer"), ("maybe", "yesno", "not yes/no"),
     ("12 cm", "number", "not a number"), ("7", "choice", "not an option letter")],
)
def test_normalise_ground_truth_rejects(answer, answer_type, reason):
    with pytest.raises(BadRow) as caught:
        normalise_ground_truth(answer, answer_type)
    assert (caught.value.field, caught.value.reason) == ("ground_truth", reason)


def test_unknown_answer_type_is_a_programming_error():
    with pytest.raises(ValueError, match="answer_type must be one of"):
        normalise_ground_truth("1", "integer")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Find x.\nChoices:\nA:2\nB:4\nC:6\nD:8", ["2", "4", "6", "8"]),  # MathVerse
        ("Which animal?\nOptions: A: cat, B: dog, C: a bird", ["cat", "dog", "a bird"]),  # MMStar
        ("Compute.\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer with the letter.", ["1", "2", "3", "4"]),  # MMK12
        ("Pick (A) red (B) green", ["red", "green"]),
        ("In triangle ABC, point A. is marked.\nA. 30°\nB. 60°", ["30°", "60°"]),  # "A." inside the text
        ("No options here.", None),
        ("Only A. one option", None),
    ],
)
def test_parse_inline_options(text, expected):
    assert parse_inline_options(text) == expected


option_text = st.text(alphabet="abcdefxyz0123456789 +-=", min_size=1, max_size=12).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(question=st.text(alphabet="abcdefghij ?0123", max_size=30), choices=st.lists(option_text, min_size=2, max_size=8))
def test_rendered_choices_parse_back(question, choices):
    assert parse_inline_options(render_choices(question, choices)) == choices


def _row(question="<image>What colour?", images=None, **kwargs):
    arguments = dict(data_source="chartqa", split="test", index=3, question=question,
                     images=[png()] if images is None else images, ground_truth="red", answer_type="text")
    arguments.update(kwargs)
    return build_row(**arguments)


def test_build_row_layout():
    row = _row(extra={"pid": "17"})
    assert row["prompt"] == [{"role": "user", "content": "<image>What colour?\n" + PAPER_INSTRUCTION}]
    assert row["reward_model"] == {"style": "rule", "ground_truth": "red"}
    assert row["ability"] == "general"
    assert row["extra_info"] == {"split": "test", "index": 3, "answer_type": "text", "question": "What colour?",
                                 "choices": None, "numeric_rule": None, "pid": "17"}
    image = Image.open(io.BytesIO(row["images"][0]["bytes"]))
    assert (image.mode, image.size, row["images"][0]["path"]) == ("RGB", (32, 24), None)
    assert _row(data_source="mathvista")["ability"] == "math"


def test_build_row_puts_one_placeholder_per_image_in_front_when_there_is_none():
    row = _row(question="Compare the two.", images=[png(), png(size=(8, 8))])
    assert row["prompt"][0]["content"].startswith("<image><image>Compare the two.\n")
    assert [Image.open(io.BytesIO(i["bytes"])).size for i in row["images"]] == [(32, 24), (8, 8)]


@pytest.mark.parametrize("question, n_images", [("<image><image>Two?", 1), ("<image>One?", 2), ("<image>None?", 0)])
def test_build_row_rejects_placeholder_image_count_mismatch(question, n_images):
    with pytest.raises(BadRow) as caught:
        _row(question=question, images=[png()] * n_images)
    assert (caught.value.field, caught.value.reason) == ("question", "placeholder/image count mismatch")


@pytest.mark.parametrize("question", ["", "<image>", "<image>  \n", None])
def test_build_row_rejects_empty_question_text(question):
    with pytest.raises(BadRow) as caught:
        _row(question=question)
    assert caught.value.field == "question"


def test_build_row_choice_checks_letters_against_the_choices():
    row = _row(ground_truth="(b)", answer_type="choice", choices=[" 3 ", "4"])
    assert row["reward_model"]["ground_truth"] == "B"
    assert row["extra_info"]["choices"] == ["3", "4"]
    with pytest.raises(BadRow, match="beyond the choices"):
        _row(ground_truth="C", answer_type="choice", choices=["3", "4"])
    with pytest.raises(BadRow) as caught:
        _row(ground_truth="A", answer_type="choice", choices=["3", " "])
    assert caught.value.field == "choices"


def test_build_row_names_the_bad_image():
    with pytest.raises(BadRow) as caught:
        _row(question="<image><image>Two?", images=[png(), {"bytes": b"not an image", "path": None}])
    assert (caught.value.field, caught.value.reason) == ("images[1]", "corrupt image bytes")


def test_build_row_refuses_extra_keys_that_clash_with_its_own():
    with pytest.raises(ValueError, match="clash"):
        _row(extra={"index": 5})


def test_numeric_rule_is_written_for_number_answers_only():
    row = _row(ground_truth="1,200", answer_type="number", numeric_rule="relaxed")
    assert (row["reward_model"]["ground_truth"], row["extra_info"]["numeric_rule"]) == ("1200", "relaxed")


@pytest.mark.parametrize("answer_type, numeric_rule", [("number", None), ("number", "approximate"), ("text", "exact")])
def test_numeric_rule_must_match_the_answer_type(answer_type, numeric_rule):
    with pytest.raises(ValueError, match="numeric_rule must be one of"):
        _row(ground_truth="12", answer_type=answer_type, numeric_rule=numeric_rule)
