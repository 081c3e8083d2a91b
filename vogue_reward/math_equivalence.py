"""Equivalence of free-form math answers.

Two stages, so that sympy only runs where it is needed and only inside a time-bounded worker process
(``worker_pool``):
1. ``quick_math_verdict`` (in-process, microseconds): equal after removing LaTeX decoration and spaces
   and degree marks → True; both plain numbers or percentages → exact comparison of their values
   ("15%" may mean 15 or 0.15, ``numbers.value_interpretations``), True or False; anything else → None.
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
from vogue_reward.numbers import DEGREES, plain_percentage, value_interpretations
from vogue_reward.stated_values import is_unit

MAX_BRACE_DEPTH = 12
FLOAT_EXACT_DIGITS = 16  # 2**53 has 16 digits: longer integers do not survive a float
_FLOAT_INEXACT_INTEGER = re.compile(rf"\d{{{FLOAT_EXACT_DIGITS},}}")
_LONG_INTEGER = re.compile(r"\d{40}")
_LARGE_EXPONENT = re.compile(r"(?:\^|\*\*)\s*\{?\s*[-+]?\d{4}")
_LARGE_FACTORIAL = re.compile(r"\d{4}\s*!")
_GROUP_FACTORIAL = re.compile(r"[)}\]]\s*!")
_POWER_OR_LARGE_NUMBER = re.compile(r"\^|\d{4}")
_BRACE = re.compile(r"\\[{}]|[{}]")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_WORD = re.compile(r"[A-Za-z]{2,}")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_BOTH = re.compile(r"^both\s+", re.IGNORECASE)
_OPENERS, _CLOSERS = "([{", ")]}"
_SET_BRACES = re.compile(r"\\\{.*\\\}", re.DOTALL)
_THOUSANDS_COMMA = re.compile(r"(?<=\d),\d{3}(?!\d)")
_NAMED_VALUE = re.compile(r"(?P<name>[^=]+?)\s*(?:=|\\in\b)\s*(?P<value>[^=]+)", re.DOTALL)
_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\\[A-Za-z]+)")
_ROOT_OF_GROUP = re.compile(r"√\s*(\([^()]*\))")
_NUMBER_RUN = re.compile(r"[\d.]+(?:\s+[\d.]+)+")
_GROUP_THEN_DIGIT = re.compile(r"[})\]]\s+\d")
_DIGITS_AND_SPACE = re.compile(r"\d\s+\d")
_SPACE_GROUPED = re.compile(r"\d{1,3}(?: \d{3})+(?:\.\d+)?")
_WHITESPACE = re.compile(r"\s+")
_RELATION = re.compile(r"=|\\in\b")
_DIGIT_OUTSIDE_SUBSCRIPT = re.compile(r"(?<!_)(?<!_\{)\d")
NAME_COMMANDS = frozenset("angle measuredangle overline triangle widehat overarc arc".split())
HEDGE_SYMBOLS = "±∓≠≈<>≤≥|?∨∧¬~"
# commands that state a value, never a choice between values; any other command must be in the truth
NEUTRAL_COMMANDS = frozenset(
    """frac sqrt cdot times div sum prod binom pi circ degree infty sin cos tan cot sec csc arcsin arccos arctan log ln exp
    alpha beta gamma delta epsilon varepsilon theta vartheta lambda mu nu rho sigma tau phi varphi omega Delta
    Omega prime""".split()
)


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
    return any(a == b for a, b in value_interpretations([predicted], [target]))


def _words_and_commands(text: str) -> tuple[set[str], set[str]]:
    commands = set(_COMMAND.findall(text))
    return {word.casefold() for word in _WORD.findall(_COMMAND.sub(" ", text))}, commands


def _shape(text: str) -> tuple[str, int]:
    """(delimiters, number of values) of an answer: a tuple or interval keeps its brackets ("(]", 2);
    a bare list and a set in braces are both ("list", n); a bracketed single expression is ("list", 1).
    Values are separated by top-level commas and semicolons, except a comma inside a thousands group."""
    text = text.strip()
    inner, delimiters = text, "list"
    if text and text[0] in _OPENERS and _closing_index(text) == len(text) - 1:
        inner, delimiters = text[1:-1], text[0] + text[-1]
    elif _SET_BRACES.fullmatch(text):
        inner = text[2:-2]
    values, depth = 1, 0
    for at, character in enumerate(inner):
        depth += (character in _OPENERS) - (character in _CLOSERS)
        if depth == 0 and character in ",;" and not _THOUSANDS_COMMA.match(inner, at):
            values += 1
    return (delimiters if values > 1 else "list"), values


def _closing_index(text: str) -> int:
    """Index of the bracket closing ``text[0]`` (any kind: intervals mix them), -1 if none."""
    depth = 0
    for at, character in enumerate(text):
        depth += (character in _OPENERS) - (character in _CLOSERS)
        if depth == 0:
            return at
    return -1


def in_latex(text: str) -> str:
    """Unicode roots and π written in LaTeX (``3√2`` → ``3\\sqrt{2}``, ``√(x+1)`` → ``\\sqrt{(x+1)}``)."""
    text = _ROOT_OF_GROUP.sub(lambda match: "\\sqrt{" + match.group(1) + "}", text.replace("π", "\\pi "))
    return _ROOT.sub(r"\\sqrt{\1}", text.replace("√{", "\\sqrt{"))


def as_stated(prediction: str, truth: str) -> str:
    """``prediction`` as the value it states: "and" read as a list separator and a leading "both"
    dropped ("Both A and C" is "A, C"), unless the truth uses the word; a leading name and ``=`` or
    ``\\in`` dropped when the truth has neither (``\\angle ABC = 40^\\circ`` states 40, ``x \\in (1,2)``
    states (1,2)); a name is letters, subscripts, primes and ``NAME_COMMANDS``, never a longer word."""
    stripped = strip_decorations(prediction, keep_math_marks=True)
    truth_words, _ = _words_and_commands(strip_decorations(truth))
    if "and" not in truth_words and (_AND.search(stripped) or _BOTH.match(stripped)):
        prediction = stripped = _BOTH.sub("", _AND.sub(", ", stripped))
    named = _NAMED_VALUE.fullmatch(stripped)
    if named and not _RELATION.search(truth) and _is_name(named.group("name")):
        return named.group("value")
    return prediction


def _is_name(text: str) -> bool:
    words = _WORD.findall(_COMMAND.sub(" ", text))
    return (
        not set(_COMMAND.findall(text)) - NAME_COMMANDS
        and all(word.isupper() for word in words)
        and not _DIGIT_OUTSIDE_SUBSCRIPT.search(text)
    )


def hedges(prediction: str, truth: str) -> bool:
    """True when ``prediction`` (after ``as_stated``) states something beyond a value of the ground truth's
    shape, so it scores 0 whatever the symbolic check says: a word that is neither a unit
    (``stated_values.is_unit``) nor a word of the truth ("5 or 6", "not 5", "x=5 or x=6"); a LaTeX command
    that is neither ``NEUTRAL_COMMANDS`` nor in the truth (``\\pm``, ``\\lor``, ``\\neq``, ``\\approx``); a
    symbol of ``HEDGE_SYMBOLS`` the truth lacks; or another shape (``_shape``: several values against
    one, a set against an interval, ``(1,2]`` against ``(1,2)``)."""
    prediction, truth = strip_decorations(prediction, keep_math_marks=True), strip_decorations(truth, keep_math_marks=True)
    words, commands = _words_and_commands(prediction)
    truth_words, truth_commands = _words_and_commands(truth)
    return bool(
        any(word not in truth_words and not is_unit(word) for word in words)
        or commands - truth_commands - NEUTRAL_COMMANDS
        or any(symbol in prediction and symbol not in truth for symbol in HEDGE_SYMBOLS)
        or _shape(prediction) != _shape(truth)
        or (_side_by_side(prediction) and not _side_by_side(truth))
    )


def _side_by_side(text: str) -> bool:
    """Two values side by side: a digit after whitespace that follows a group (``\\frac{1}{3} 0``), or after
    whitespace between digits that is not digit grouping (``0.01 0``; ``1 000 000`` and ``1 000.5`` are)."""
    return bool(_GROUP_THEN_DIGIT.search(text)) or any(
        _DIGITS_AND_SPACE.search(run.group()) and not _SPACE_GROUPED.fullmatch(_WHITESPACE.sub(" ", run.group()))
        for run in _NUMBER_RUN.finditer(text)
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
