"""No input makes compute_score raise: 10,600 adversarial responses and rows in total.

Each test counts the calls hypothesis actually made and checks its quota, so the total is measured,
not assumed. Every result must also have the documented shape and no internal_error (a matcher bug
would be swallowed by compute_score's last line of defence; here it fails the test instead).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vogue_reward import compute_score, score
from vogue_reward.answer_types import NUMERIC_RULES

from .cases_table import all_cases

TYPES = st.sampled_from(["math", "choice", "yesno", "number", "text"])
FUZZ_TIMEOUT = 0.5  # seconds per symbolic check; keeps the pathological draws cheap
SPECIAL_TOKENS = ["<|image_pad|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>", "<|im_start|>", "<|box_start|>"]
LATEX_TOKENS = [
    "\\boxed{", "{", "}", "\\{", "\\}", "\\frac", "\\sqrt", "^", "_", "!", "(", ")", "[", "]", ",", ".", "-", "+", "=", "/",
    "\\left(", "\\right)", "\\text{", "\\pi", "\\infty", "\\circ", "\\%", "%", "$", "x", "A", "B", "yes", "No", " ",
    "0", "1", "9", "99", "12.5", "1,000", "\\cdot", "\\times", "\\in", "\\cup", "<think>", "</think>", "\\\\", "\n",
]
REALISTIC = [case[2] for case in all_cases()]


def _check(result):
    assert tuple(result) == score.RESULT_KEYS
    assert isinstance(result["pred"], str) and len(result["pred"]) <= score.MAX_PRED_CHARS
    assert result["internal_error"] == 0.0, result
    assert 0.0 <= result["score"] <= 1.0
    expected = 0.9 * result["acc"] + 0.1 * result["format"]
    assert result["score"] == pytest.approx(expected)


def _run_fuzz(strategy, quota, score_one):
    calls = []

    @settings(max_examples=quota, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(strategy)
    def run(drawn):
        calls.append(1)
        _check(score_one(drawn))

    run()
    assert len(calls) >= quota


def _math_bomb():
    digit = st.integers(2, 99).map(str)
    tower = st.lists(digit, min_size=3, max_size=6).map(lambda ds: "^{".join(ds) + "}" * (len(ds) - 1))
    factorial = st.tuples(st.integers(50, 10**6), st.integers(1, 4)).map(lambda t: f"{t[0]}" + "!" * t[1])
    huge = st.integers(300, 20_000).map(lambda n: "9" * n)
    nested = st.integers(1, 60_000).map(lambda n: "{" * n + "x" + "}" * n)
    unclosed = st.integers(1, 60_000).map(lambda n: "\\frac{" * n)
    sqrt_chain = st.integers(1, 400).map(lambda n: "\\sqrt{" * n + "2" + "}" * n)
    return st.one_of(tower, factorial, huge, nested, unclosed, sqrt_chain)


def _with_special_tokens():
    return st.tuples(st.sampled_from(REALISTIC), st.sampled_from(SPECIAL_TOKENS), st.integers(0, 10_000)).map(
        lambda t: t[0][: t[2] % (len(t[0]) + 1)] + t[1] + t[0][t[2] % (len(t[0]) + 1) :]
    )


def test_fuzz_arbitrary_unicode_for_every_answer_type():
    _run_fuzz(
        st.tuples(st.text(st.characters(exclude_categories=()), max_size=400), TYPES, st.text(max_size=20)),
        5000,
        lambda t: compute_score("fuzz", t[0], t[2] or "1", {"answer_type": t[1]}, math_timeout=FUZZ_TIMEOUT),
    )


def test_fuzz_latex_token_soup_inside_and_outside_boxes():
    soup = st.lists(st.sampled_from(LATEX_TOKENS), max_size=60).map("".join)
    response = st.tuples(soup, soup).map(lambda t: f"<think>{t[0]}</think> \\boxed{{{t[1]}}}")
    _run_fuzz(
        st.tuples(st.one_of(soup, response), TYPES, soup),
        2000,
        lambda t: compute_score(
            "fuzz", t[0], t[2] or "12", {"answer_type": t[1], "choices": ["1", "2", "3"]}, math_timeout=FUZZ_TIMEOUT
        ),
    )


def test_fuzz_bombs_truncations_special_tokens_and_enormous_responses():
    bomb = _math_bomb().map(lambda answer: f"<think>t</think> \\boxed{{{answer}}}")
    truncated = st.tuples(st.sampled_from(REALISTIC), st.integers(0, 400)).map(lambda t: t[0][: t[1]])
    enormous = st.integers(score.DEFAULT_MAX_RESPONSE_CHARS - 10, score.DEFAULT_MAX_RESPONSE_CHARS + 10).map(
        lambda n: ("\\boxed{1}" * n)[:n]
    )
    strategy = st.tuples(st.one_of(bomb, truncated, _with_special_tokens(), enormous, _math_bomb()), TYPES)
    _run_fuzz(
        strategy,
        2600,
        lambda t: compute_score("fuzz", t[0], "1", {"answer_type": t[1], "choices": ["1", "2"]}, math_timeout=FUZZ_TIMEOUT),
    )


def test_fuzz_malformed_rows():
    anything = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(), st.booleans(),
                         st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
    extra_info = st.one_of(
        anything,
        st.fixed_dictionaries(
            {},
            optional={"answer_type": st.one_of(TYPES, anything), "choices": anything, "precision": anything,
                      "numeric_rule": st.one_of(st.sampled_from(NUMERIC_RULES), anything)},
        ),
    )
    _run_fuzz(
        st.tuples(st.sampled_from(REALISTIC), anything, extra_info, anything),
        1000,
        lambda t: compute_score(t[3], t[0], t[1], t[2], math_timeout=FUZZ_TIMEOUT),
    )
