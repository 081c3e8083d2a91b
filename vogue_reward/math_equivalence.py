"""Equivalence of free-form math answers.

Two stages, so that sympy only runs where it is needed and only inside a time-bounded worker process
(``worker_pool``):
1. ``quick_math_verdict`` (in-process, microseconds): equal after removing LaTeX decoration and spaces
   and degree marks → True; both plain numbers or percentages → exact comparison of their values
   ("15%" may mean 15 or 0.15, ``numbers.value_pairs``), True or False; anything else → None.
2. ``symbolic_equivalent`` (worker process): mathruler's ``grade_answer`` (normalisation: units,
   percent, ``\\text``, thousands separators, then sympy.simplify of the difference) OR math-verify's
   ``verify(parse(gt), parse(pred))`` (fractions, intervals, sets, equations, LaTeX expressions).
   mathruler reads integers through floats, so it is skipped when an answer has a run of
   ``FLOAT_EXACT_DIGITS`` digits or more (``12345678901234567891 cm`` would equal ``…890``);
   math-verify drops primes, so it is skipped when the answers have different numbers of ``'``.
"""

from __future__ import annotations

import re

from vogue_reward.extraction import SENTENCE_END, braced_content, strip_decorations
from vogue_reward.numbers import DEGREES, plain_percentage, value_pairs

MAX_BRACE_DEPTH = 12
FLOAT_EXACT_DIGITS = 16  # 2**53 has 16 digits: longer integers do not survive a float
_FLOAT_INEXACT_INTEGER = re.compile(rf"\d{{{FLOAT_EXACT_DIGITS},}}")
_LONG_INTEGER = re.compile(r"\d{40}")
_LARGE_EXPONENT = re.compile(r"(?:\^|\*\*)\s*\{?\s*[-+]?\d{4}")
_LARGE_FACTORIAL = re.compile(r"\d{4}\s*!")
_GROUP_FACTORIAL = re.compile(r"[)}\]]\s*!")
_POWER_OR_LARGE_NUMBER = re.compile(r"\^|\d{4}")
_BRACE = re.compile(r"\\[{}]|[{}]")


def canonical_math(text: str) -> str:
    """``text`` without LaTeX decoration (``extraction.strip_decorations``, keeping ``!`` and ``'``),
    degree marks and spaces."""
    return DEGREES.sub("", strip_decorations(text, keep_math_marks=True)).replace(" ", "")


def quick_math_verdict(prediction: str, truth: str) -> bool | None:
    """True/False when decidable without sympy (see module docstring), else None."""
    prediction, truth = canonical_math(prediction), canonical_math(truth)
    if prediction == truth:
        return bool(truth)
    predicted, target = plain_percentage(prediction), plain_percentage(truth)
    if predicted is None or target is None:
        return None
    return any(a == b for a, b in value_pairs(predicted, target))


def _exponent_tower(text: str) -> bool:
    """Some exponent itself contains a power: ``a^{b^c}``, ``a^b^c``, ``a**b**c``."""
    text = text.replace("**", "^")
    for caret in re.finditer(r"\^\s*", text):
        start = caret.end()
        if text.startswith("{", start):
            exponent = braced_content(text, start)
            if exponent is None:  # unclosed: nothing after it ends an exponent
                return False
            if "^" in exponent:
                return True
            end = start + len(exponent) + 2
        else:
            end = start + len(re.match(r"\d*\.?\d+|\\?[A-Za-z]*|.?", text[start:]).group())
        if text[end:].lstrip().startswith("^"):
            return True
    return False


def _brace_depth(text: str) -> int:
    depth = deepest = 0
    for brace in _BRACE.finditer(text):
        if len(brace.group()) == 1:
            depth += 1 if brace.group() == "{" else -1
            deepest = max(deepest, depth)
    return deepest


def too_costly_for_sympy(answer: str) -> bool:
    """True for answers whose exact evaluation explodes, so they are compared as strings only:
    exponent towers, exponents of ≥ 4 digits, integers of ≥ 40 digits, factorials of ≥ 4-digit
    numbers or of brackets in an answer with a power or a ≥ 4-digit number (``(10^{100})!``), braces
    nested deeper than ``MAX_BRACE_DEPTH``. Real answers never need these; degenerate rollouts produce
    them by the thousand, and each would cost a full time bound."""
    return bool(
        _LONG_INTEGER.search(answer)
        or _LARGE_EXPONENT.search(answer)
        or _LARGE_FACTORIAL.search(answer)
        or (_GROUP_FACTORIAL.search(answer) and _POWER_OR_LARGE_NUMBER.search(answer))
        or _brace_depth(answer) > MAX_BRACE_DEPTH
        or _exponent_tower(answer)
    )


def symbolic_equivalent(prediction: str, truth: str) -> bool:
    """mathruler OR math-verify equivalence. Unbounded in time: call it through ``worker_pool``."""
    from math_verify import parse, verify
    from mathruler.grader import grade_answer

    prediction, truth = (text.rstrip(SENTENCE_END).replace("°", "^{\\circ}") for text in (prediction, truth))
    floats_exact = not _FLOAT_INEXACT_INTEGER.search(prediction + " " + truth)
    if floats_exact and grade_answer(prediction, truth):
        return True
    if prediction.count("'") != truth.count("'"):  # math-verify drops primes: f' would equal f
        return False
    gold = parse("\\boxed{" + truth + "}", parsing_timeout=None)
    target = parse("\\boxed{" + prediction + "}", parsing_timeout=None)
    return bool(gold) and bool(target) and verify(gold, target, timeout_seconds=None)
