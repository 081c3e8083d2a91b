"""Property: two integers of any size (up to what fits in an answer) score ``math`` acc 1 iff they are
equal, in every way docs/rewards.md "Rewards and answer types" lists for writing a plain number, on either
side, decided in-process (never by sympy's float-tolerant comparisons)."""

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from vogue_reward import compute_score, score

MATH = {"answer_type": "math"}
DIGITS = 250  # with separators and decoration the answer stays under score.MAX_ANSWER_CHARS
FORMATS = {
    "plain": str,
    "thousands commas": lambda n: f"{n:,}",
    "thin spaces": lambda n: f"{n:,}".replace(",", "\\,"),
    "spaces": lambda n: f"{n:,}".replace(",", " "),
    "unicode minus": lambda n: str(n).replace("-", "−"),
    "explicit sign": lambda n: str(n) if n < 0 else f"+{n}",
    "leading zeros": lambda n: f"{'-' if n < 0 else ''}00{abs(n)}",
    "decimal point": lambda n: f"{n}.0",
    "e-notation": lambda n: f"{n}0e-1",
    "times ten": lambda n: f"{n}00\\times10^{{-2}}",
    "dollars": lambda n: f"${n}$",
    "text wrapper": lambda n: f"\\text{{{n}}}",
    "mathrm wrapper": lambda n: f"\\mathrm{{ {n} }}",
    "degrees": lambda n: f"{n}^{{\\circ}}",
    "degree sign": lambda n: f"{n}°",
}
RESPONSES = [
    lambda answer: f"<think>t</think> The answer is $\\boxed{{{answer}}}$.",
    lambda answer: f"\\boxed {{{answer}}}",
    lambda answer: f"<think>t</think> First \\boxed{{0}}, then \\boxed{{{answer}}}",
]
INTEGERS = st.integers(-(10**DIGITS) + 1, 10**DIGITS - 1)


def _near(a: int):
    """Integers that differ from ``a`` the way wrong answers do: last digit, one power of ten, sign,
    a factor of ten, or anything else."""
    return st.one_of(
        st.integers(-9, 9).filter(bool).map(lambda delta: a + delta),
        st.integers(0, DIGITS - 2).map(lambda k: a + 10**k),
        st.just(-a),
        st.just(a * 10 if abs(a) < 10 ** (DIGITS - 1) else a // 10),
        INTEGERS,
    ).filter(lambda b: b != a)


def _pairs(distinct: bool):
    other = (lambda a: _near(a).map(lambda b: (a, b))) if distinct else (lambda a: st.just((a, a)))
    return INTEGERS.flatmap(other)


class _NoSympy:
    size = 1

    def equivalent(self, prediction, truth, timeout):
        raise AssertionError(f"sent to sympy: {prediction!r} vs {truth!r}")


def _acc(a: int, b: int, formats, response, percent: str, ending: str, truth_as_int: bool):
    answer = FORMATS[formats[0]](a) + percent + ending
    truth = b if truth_as_int and not percent else FORMATS[formats[1]](b) + percent
    with mock.patch.object(score, "shared_pool", _NoSympy):
        result = compute_score("geo3k", response(answer), truth, MATH)
    assert result["internal_error"] == result["verify_failed"] == result["bad_row"] == 0.0, (answer, truth, result)
    return result["acc"]


WRITINGS = st.tuples(
    st.tuples(st.sampled_from(sorted(FORMATS)), st.sampled_from(sorted(FORMATS))),
    st.sampled_from(RESPONSES),
    st.sampled_from(["", "%", "\\%"]),
    st.sampled_from(["", ".", " ."]),  # sentence punctuation after the answer
    st.booleans(),
)


@settings(derandomize=True, max_examples=1500, deadline=None)
@given(_pairs(distinct=True), WRITINGS)
def test_distinct_integers_score_zero_however_written(pair, writing):
    assert _acc(*pair, *writing) == 0.0


@settings(derandomize=True, max_examples=1500, deadline=None)
@given(_pairs(distinct=False), WRITINGS)
def test_equal_integers_score_one_however_written(pair, writing):
    assert _acc(*pair, *writing) == 1.0
