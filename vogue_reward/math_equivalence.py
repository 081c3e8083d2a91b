"""Equivalence of free-form math answers.

Two stages, so that sympy only runs where it is needed and only inside a time-bounded worker process
(``worker_pool``):
1. ``quick_math_verdict`` (in-process, microseconds): equal after removing LaTeX decoration and spaces
   and degree marks → True; both plain numbers or percentages → numeric comparison (relative
   tolerance 1e-6; "15%" may mean 15 or 0.15), True or False;
   anything else → None (undecided).
2. ``symbolic_equivalent`` (worker process): mathruler's ``grade_answer`` (normalisation: units,
   percent, ``\\text``, thousands separators, then sympy.simplify of the difference) OR math-verify's
   ``verify(parse(gt), parse(pred))`` (fractions, intervals, sets, equations, LaTeX expressions).
"""

from __future__ import annotations

import math
import re

from vogue_reward.extraction import braced_content, strip_decorations
from vogue_reward.numbers import DEGREES, plain_number_readings

NUMERIC_RELATIVE_TOLERANCE = 1e-6
MAX_BRACE_DEPTH = 12
_LONG_INTEGER = re.compile(r"\d{40}")
_LARGE_EXPONENT = re.compile(r"(?:\^|\*\*)\s*\{?\s*[-+]?\d{4}")
_LARGE_FACTORIAL = re.compile(r"(?:\d{4}|[)}\]])\s*!")
_BRACE = re.compile(r"\\[{}]|[{}]")


def canonical_math(text: str) -> str:
    """``text`` without LaTeX decoration (``extraction.strip_decorations``), degree marks and spaces."""
    return DEGREES.sub("", strip_decorations(text)).replace(" ", "")


def quick_math_verdict(prediction: str, truth: str) -> bool | None:
    """True/False when decidable without sympy (see module docstring), else None."""
    prediction, truth = canonical_math(prediction), canonical_math(truth)
    if prediction == truth:
        return bool(truth)
    predicted_values, true_values = plain_number_readings(prediction), plain_number_readings(truth)
    if predicted_values is None or true_values is None:
        return None
    return any(
        math.isclose(predicted, true, rel_tol=NUMERIC_RELATIVE_TOLERANCE, abs_tol=1e-12)
        for predicted in predicted_values
        for true in true_values
    )


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
    exponent towers, exponents of ≥ 4 digits, integers of ≥ 40 digits, factorials of ≥ 4-digit or
    parenthesised operands, braces nested deeper than ``MAX_BRACE_DEPTH``. Real answers never need
    these; degenerate rollouts produce them by the thousand, and each would cost a full time bound."""
    return bool(
        _LONG_INTEGER.search(answer)
        or _LARGE_EXPONENT.search(answer)
        or _LARGE_FACTORIAL.search(answer)
        or _brace_depth(answer) > MAX_BRACE_DEPTH
        or _exponent_tower(answer)
    )


def symbolic_equivalent(prediction: str, truth: str) -> bool:
    """mathruler OR math-verify equivalence. Unbounded in time: call it through ``worker_pool``."""
    from math_verify import parse, verify
    from mathruler.grader import grade_answer

    prediction, truth = prediction.replace("°", "^{\\circ}"), truth.replace("°", "^{\\circ}")
    if grade_answer(prediction, truth):
        return True
    gold = parse("\\boxed{" + truth + "}", parsing_timeout=None)
    target = parse("\\boxed{" + prediction + "}", parsing_timeout=None)
    return bool(gold) and bool(target) and verify(gold, target, timeout_seconds=None)
