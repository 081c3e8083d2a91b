"""Answers a policy could learn to game the reward with (issue 21): the adversarial table, compared with
math-verify case by case, and the hedging property (no answer that hedges the truth with another value
scores 1, for random ground truths, under every answer type and numeric rule that compares values).

The rule (docs/rewards.md "Rewards and answer types"): an answer scores 1 only if the set of values it states
equals the set the ground truth states.
"""

import logging
from pathlib import Path
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from math_verify import parse, verify

from vogue_reward.score import compute_score

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=150)
RULES = ({"numeric_rule": "exact"}, {"numeric_rule": "relaxed"}, {"numeric_rule": "precision", "precision": 2},
         {"numeric_rule": "mmmu"})

REASONS = {
    "unit": "a unit from the listed set, with its exponent, is dropped (math-verify reads cm^2 as a product)",
    "set": "a set is not an interval: \\{1,2\\} states two values, (1, 2) a continuum",
    "hedge": "a hedge states more than one candidate; math-verify compares one of them",
    "and": "'Both A and C' states the list A, C",
    "grouping": "spaces and thin spaces group digits in threes; math-verify reads a product or a list",
    "prose": "a number answer is read whole: an unboxed sentence states no number",
    "approximation": "≈ 5 states an approximation, not the value",
    "root": "math-verify does not read the Unicode root √",
    "comma": "2,5 is a decimal comma in much of the world and a list elsewhere: unread",
}

# (answer type, boxed answer, ground truth, expected acc, reason when math-verify says otherwise)
ADVERSARIAL = [
    # a variable, a subscript, a function or a constant applied to the number: not the number
    ("number", r"2\pi", "2", 0, None),
    ("number", r"\sqrt{2}", "2", 0, None),
    ("number", "2x", "2", 0, None),
    ("number", "x^2", "2", 0, None),
    ("number", "x_3", "3", 0, None),
    ("number", r"\sin 30", "30", 0, None),
    ("number", "e^{1}", "1", 0, None),
    ("number", "5!", "5", 0, None),
    # numeric literal expressions are evaluated; a listed unit is dropped with its exponent
    ("number", "2^{3}", "8", 1, None),
    ("number", "10^2", "100", 1, None),
    ("number", r"\frac{18}{2}", "9", 1, None),
    ("number", r"5\text{ cm}^2", "5", 1, None),
    ("number", "5 cm^2", "5", 1, "unit"),
    ("number", r"12 \text{ cm}^3", "12", 1, None),
    ("number", r"3 \text{ m/s}", "3", 1, None),
    ("number", r"2 \times 3", "6", 1, None),
    # hedges: or / and / not / several candidates / ±, where the truth is one value
    ("number", r"5 \text{ or } 6", "5", 0, None),
    ("number", r"5 \text{ and } 6", "5", 0, None),
    ("number", r"\text{not } 6", "5", 0, None),
    ("number", "5, 6", "5", 0, None),
    ("number", r"5 \pm 1", "5", 0, None),
    ("number", r"\pm 5", "5", 0, None),
    ("math", r"5 \text{ or } 6", "5", 0, None),
    ("math", r"5 \text{ and } 6", "5", 0, None),
    ("math", r"5 \text{ not } 6", "5", 0, None),
    ("math", r"\text{not } 5", "5", 0, None),
    ("math", r"x=5 \text{ or } x=6", "5", 0, None),
    ("math", r"x=5 \text{ or } x=6", "x=5", 0, None),
    ("math", "5, 6", "5", 0, None),
    ("math", r"5 \pm 1", "5", 0, None),
    ("math", r"\pm 5", "5", 0, None),
    ("math", r"5 \lor 6", "5", 0, None),
    ("math", r"5 \neq 6", "5", 0, None),
    ("math", r"\approx 5", "5", 0, "approximation"),
    # sets, intervals, lists
    ("math", r"\{1,2\}", "(1, 2)", 0, "set"),
    ("math", "(1, 2)", r"\{1,2\}", 0, "set"),
    ("math", "(1,2]", "(1,2)", 0, None),
    ("math", r"\{2, 1\}", r"\{1,2\}", 1, None),
    ("math", "1, 2", r"\{1,2\}", 1, None),
    ("math", "2, 1", "1, 2", 1, None),
    ("math", "1", "1, 2", 0, None),
    ("math", "1, 2, 3", "1, 2", 0, None),
    ("number", "3, 2", "2, 3", 1, None),
    ("number", "2 and 3", "2, 3", 1, None),
    ("number", "2", "2, 3", 0, None),
    ("number", "2, 3, 4", "2, 3", 0, None),
    ("number", r"2 \text{ or } 3", "2, 3", 0, "hedge"),
    # the false negatives the probes found
    ("math", "3√2", r"3\sqrt{2}", 1, "root"),
    ("math", r"\text{Both A and C}", "A, C", 1, "and"),
    ("math", r"\angle ABC = 40^\circ", "40", 1, None),
    # commas: thousands separators in groups of three, a comma and a space between values, else unread
    ("number", "1,000", "1000", 1, None),
    ("number", "1,000,000", "1000000", 1, None),
    ("number", "2,5", "2.5", 0, None),
    ("number", "2,5", "2, 5", 0, "comma"),
    ("number", "2, 5", "2, 5", 1, None),
    ("number", "1,23", "123", 0, None),
    ("number", r"1 \quad -0.01", "1", 0, None),  # wide space between values, not 1 − 0.01 (found by the property test)
    ("math", r"0.01 \quad 0", "0.01", 0, None),  # two values side by side, not the digits 0.010 (property test)
    ("math", "0.01 000", "0.01", 0, None),
    ("math", r"1\,000\,000", "1000000", 1, "grouping"),
    ("math", "1 000.5", "1000.5", 1, "grouping"),
]


def _math_verify(answer, truth):
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return float(verify(parse("\\boxed{" + truth + "}"), parse("\\boxed{" + answer + "}")))


@pytest.mark.parametrize(("answer_type", "answer", "truth", "expected", "reason"), ADVERSARIAL)
def test_adversarial_answers(answer_type, answer, truth, expected, reason):
    result = compute_score("table", f"<think>t</think> \\boxed{{{answer}}}", truth, {"answer_type": answer_type})
    assert result["acc"] == expected and result["bad_row"] == 0.0
    reference = _math_verify(answer, truth)
    if reason is None:
        assert reference == expected, "math-verify agrees with every case without a reason"
    else:
        assert reference != expected and reason in REASONS, "a listed disagreement still happens"


def test_prose_states_no_number():
    """The prompt asks for \\boxed{}; read out of a sentence, "It is not 12." would score for 12."""
    for sentence in ("The value is 12.", "It is not 12.", "Maybe 12."):
        assert compute_score("chartqa", f"<think>t</think>{sentence}", "12", {"answer_type": "number"})["acc"] == 0.0


def test_a_ground_truth_the_grammar_does_not_read_is_a_bad_row():
    for truth in ("2,5", "12 apples", "5 or 6"):
        assert compute_score("table", r"\boxed{5}", truth, {"answer_type": "number"})["bad_row"] == 1.0


VALUE = st.one_of(
    st.integers(-10**6, 10**6).map(Fraction),
    st.decimals(-1000, 1000, places=2, allow_nan=False, allow_infinity=False).map(Fraction),
    st.tuples(st.integers(-50, 50), st.integers(2, 12)).map(lambda pair: Fraction(*pair)),
)


def written(value: Fraction) -> str:
    """A plain writing of ``value``: an integer, a terminating decimal, or ``\\frac{p}{q}``."""
    if value.denominator == 1:
        return str(value.numerator)
    if 10**6 % value.denominator == 0:
        return f"{float(value):.6f}".rstrip("0")
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


HEDGES = (
    "{t} or {o}", "{o} or {t}", r"{t} \text{{ or }} {o}", r"\text{{either }} {t} \text{{ or }} {o}",
    r"{t} \text{{ and }} {o}", "{t}, {o}", "{o}, {t}", "{t}; {o}", r"\{{{t}, {o}\}}", r"{t} \pm 1", r"\pm {t}",
    r"\text{{not }} {o}", r"\text{{not }} {t}", r"{t} \lor {o}", r"{t} \vee {o}", "{t} | {o}",
    r"x = {t} \text{{ or }} x = {o}", r"{t} \neq {o}", r"{t} \quad {o}", r"{t} \text{{ maybe }} {o}",
    r"{t} \text{{ (or }} {o}\text{{)}}", r"\text{{between }} {t} \text{{ and }} {o}", r"{t}\, {o}", r"{t} \; {o}",
    "{t}~{o}", r"{t} \text{{ cm or }} {o} \text{{ cm}}", "[{t}, {o}]", "({t}, {o})", r"{t} \to {o}", r"{t} \qquad {o}",
    r"\{{{t}\}} \cup \{{{o}\}}", r"{t} \text{{ if }} x > 0 \text{{ else }} {o}", r"{t}\text{{ or more}}",
)


@DETERMINISTIC
@given(VALUE, VALUE)
@example(Fraction(0), Fraction(1))
@example(Fraction(5), Fraction(-5))
def test_no_hedge_of_the_truth_with_another_value_scores(truth, other):
    if other == truth or (truth == 0 and other == 0):
        return
    for template in HEDGES:
        if template == r"\pm {t}" and truth == 0:
            continue  # ±0 states the one value 0
        answer = template.format(t=written(truth), o=written(other))
        for extra in ({"answer_type": "math"},) + tuple({"answer_type": "number", **rule} for rule in RULES):
            result = compute_score("table", f"<think>t</think>\\boxed{{{answer}}}", written(truth), extra)
            assert result["acc"] == 0.0, (answer, written(truth), extra)


@DETERMINISTIC
@given(st.lists(VALUE, min_size=2, max_size=4, unique=True), st.randoms(use_true_random=False))
def test_a_number_list_scores_iff_it_states_the_same_set(values, random):
    truth = ", ".join(written(value) for value in values)
    shuffled = random.sample(values, len(values))
    for rule in RULES:
        extra = {"answer_type": "number", **rule}

        def acc(answer_values):
            answer = ", ".join(written(value) for value in answer_values)
            return compute_score("table", f"\\boxed{{{answer}}}", truth, extra)["acc"]

        assert acc(shuffled) == 1.0
        assert acc(shuffled[1:]) == 0.0  # a subset of a multi-valued truth
        assert acc(shuffled + [max(values) + 1000]) == 0.0


def test_the_rewards_doc_lists_every_disagreement_with_its_reason():
    with open(Path(__file__).parents[2] / "docs" / "rewards.md", encoding="utf-8") as handle:
        doc = handle.read()
    section = doc[doc.index("On the adversarial table") :]
    section = " ".join(section[: section.index("\n\n")].split())
    for _, answer, _, _, reason in ADVERSARIAL:
        if reason is not None:
            assert f"`{answer}`" in section and REASONS[reason] in section, answer
