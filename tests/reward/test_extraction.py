"""Answer extraction: the last closed box, the answer region, LaTeX decoration."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vogue_reward.extraction import answer_region, braced_content, candidate_answer, last_boxed, strip_decorations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{12}", "12"),
        (r"a \boxed{1} b \boxed{2} c", "2"),
        (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
        (r"\boxed{\{1,2\}}", r"\{1,2\}"),
        (r"\boxed{\}}", r"\}"),
        (r"\boxed {7}", "7"),
        (r"\boxed{ 7 }", "7"),
        (r"\boxed{}", ""),
        (r"\boxed{1} then \boxed{2", None),  # the last box is unclosed: truncated, no answer
        (r"\boxed", None),
        (r"the \boxed command, then \boxed{5}", "5"),
        (r"\boxed{5} and the word \boxed", "5"),
        ("no box at all", None),
        ("", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def _reference_last_boxed(text):
    """Brute force: every '\\boxed{' start, the shortest balanced closing, keep the last start."""
    found = None
    for start in range(len(text)):
        if not text.startswith("\\boxed{", start):
            continue
        open_at = start + len("\\boxed")
        for end in range(open_at + 1, len(text)):
            inner = text[open_at + 1 : end]
            if text[end] == "}" and _balanced(inner) and not inner.endswith("\\"):
                found = inner.strip()
                break
        else:
            found = None
    return found


def _balanced(text):
    depth, i = 0, 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth < 0:
            return False
        i += 1
    return depth == 0


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["\\boxed{", "{", "}", "\\{", "\\}", "x", "1", " ", "\\frac"]), max_size=25).map("".join))
def test_last_boxed_agrees_with_brute_force(text):
    assert last_boxed(text) == _reference_last_boxed(text)


@settings(derandomize=True)
@given(st.recursive(st.just("x"), lambda inner: st.lists(inner, max_size=3).map(lambda parts: "{" + "".join(parts) + "}")))
def test_nested_balanced_content_comes_back_whole(content):
    assert braced_content("{" + content + "}tail", 0) == content
    assert last_boxed(f"<think>t</think> \\boxed{{{content}}}.") == content.strip()


def test_deep_nesting_is_linear_and_does_not_recurse():
    depth = 200_000
    assert last_boxed("\\boxed{" + "{" * depth + "}" * depth + "}") == "{" * depth + "}" * depth
    assert last_boxed("\\boxed{" + "{" * depth) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>a</think> B", " B"),
        ("<think>a</think>x</think>y", "y"),
        ("<think>never closed", ""),
        ("plain answer", "plain answer"),
    ],
)
def test_answer_region(text, expected):
    assert answer_region(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>\\boxed{A}</think> so \\boxed{B}", "B"),
        ("<think>t</think> The answer is (C).", "(C)."),
        ("<think>t</think> Answer: yes", "yes"),
        ("<think>answer is A</think> The final answer is B", "B"),
        ("<think>t</think> No, it is not.", "No, it is not."),
        ("<think>t</think>   ", None),
        ("<think>truncated", None),
    ],
)
def test_candidate_answer(text, expected):
    assert candidate_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$12$", "12"),
        (r"\text{Yes}", "Yes"),
        (r"\textbf{\text{(B)}}", "(B)"),
        (r"\left(1, 2\right)", "(1, 2)"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        ("'Asia'.", "Asia"),
        ("  red \n circle  ", "red circle"),
        (r"1\,000", "1 000"),
    ],
)
def test_strip_decorations(text, expected):
    assert strip_decorations(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5!", "5!"), ("5!.", "5!"), ("n!", "n!"), ("f'", "f'"), ("y''.", "y''"), ("'12'", "12"), ('"5!".', "5!"),
     (r"$\text{f'}$", "f'"), ("'", "'"), ("x ;", "x")],
)
def test_strip_decorations_keeps_factorials_and_primes_in_maths(text, expected):
    assert strip_decorations(text, keep_math_marks=True) == expected
    assert strip_decorations(text).rstrip("!'") == strip_decorations(text)  # elsewhere they are punctuation
