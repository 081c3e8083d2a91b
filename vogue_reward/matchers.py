"""Matchers for the non-math answer types: choice, yesno, number, text.

Each takes the candidate answer (``extraction.candidate_answer``; None when the response commits to
none) and the ground truth in the form docs/rewards.md "Rewards and answer types" fixes, and returns
``Match(acc, pred)``: ``pred`` is the canonical answer (what maj@k votes on), "" when nothing was read.
A ground truth outside that form raises ``BadGroundTruth`` naming the field.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

from vogue_reward.extraction import strip_decorations
from vogue_reward.numbers import canonical_number, value_sets_match
from vogue_reward.stated_values import stated_value, stated_values

LETTERS_WITHOUT_CHOICES = 10  # A–J accepted when the row does not list its options
_ANSWER_LEAD = re.compile(r"^(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)s?\s*(?:is|are|:)?\s*", re.I)
_LETTER_SEPARATORS = re.compile(r"[\s,;/&+]+|\band\b", re.IGNORECASE)
_LETTER_PUNCTUATION = re.compile(r"[()\[\].:：]")
_LEADING_LETTER = re.compile(r"^[(\[]?([A-Z])\s*(?:[.):：\]]|\s-)\s*\S")
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})
_WORD = re.compile(r"[a-z]+")
_HEDGE_WORDS = frozenset({"or", "and", "nor", "maybe"})


class Match(NamedTuple):
    acc: float
    pred: str


class BadGroundTruth(ValueError):
    """A row whose ground truth (or ``extra_info`` field) is not in the documented form."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def _ascii_letters(token: str) -> bool:
    return token.isascii() and token.isalpha()  # "ß".upper() is "SS": only A–Z can be option letters


def _letters_in_range(letters: set[str], n_choices: int) -> bool:
    return bool(letters) and all(0 <= ord(item) - ord("A") < n_choices for item in letters)


def parse_letters(text: str, n_choices: int | None) -> frozenset[str] | None:
    """Option letters an answer names: "B", "(B)", "B.", "[b]", "option B", "B) 12", "A, C", "A and C",
    "AC"; None when the answer is not written as letters (or names a letter beyond the options)."""
    n_choices = n_choices or LETTERS_WITHOUT_CHOICES
    text = _ANSWER_LEAD.sub("", strip_decorations(text))
    tokens = [token for token in _LETTER_SEPARATORS.split(_LETTER_PUNCTUATION.sub(" ", text)) if token]
    if tokens and all(len(token) == 1 and _ascii_letters(token) for token in tokens):
        if len(tokens) == 1 or all(token.isupper() for token in tokens):
            letters = {token.upper() for token in tokens}
            return frozenset(letters) if _letters_in_range(letters, n_choices) else None
    if len(tokens) == 1 and _ascii_letters(tokens[0]) and tokens[0].isupper() and len(set(tokens[0])) == len(tokens[0]):
        letters = set(tokens[0])
        return frozenset(letters) if _letters_in_range(letters, n_choices) else None
    leading = _LEADING_LETTER.match(text)
    if leading and _letters_in_range({leading.group(1)}, n_choices):
        return frozenset(leading.group(1))
    return None


def _option_key(text: str) -> str:
    number = stated_value(text)
    if number is not None and not number.percent:
        return f"number:{canonical_number(number.value)}"
    return strip_decorations(text).casefold()


def letter_of_option_text(text: str, choices: Sequence[str]) -> str | None:
    """The letter whose option text the answer repeats (case, LaTeX decoration and number formatting
    ignored: "12.0" matches option "12"); None when no option, or more than one, matches."""
    key = _option_key(text)
    hits = [chr(ord("A") + i) for i, choice in enumerate(choices) if _option_key(choice) == key]
    return hits[0] if len(hits) == 1 else None


def _letters_or_option(text: str, choices: Sequence[str] | None) -> frozenset[str] | None:
    letters = parse_letters(text, len(choices) if choices else None)
    if letters is None and choices:
        hit = letter_of_option_text(text, choices)
        letters = frozenset(hit) if hit else None
    return letters


def match_choice(candidate: str | None, ground_truth: str, choices: Sequence[str] | None) -> Match:
    """Correct iff the set of letters the answer names (or the option whose text it repeats) equals
    the ground-truth set ("A, C" == "C and A"; "A" != "A, C")."""
    truth = _letters_or_option(ground_truth, choices)
    if truth is None:
        raise BadGroundTruth("ground_truth", f"not option letter(s) of this row: {ground_truth[:80]!r}")
    predicted = _letters_or_option(candidate, choices) if candidate else None
    if predicted is None:
        return Match(0.0, "")
    return Match(float(predicted == truth), ", ".join(sorted(predicted)))


def yes_or_no(text: str) -> str | None:
    """"yes"/"no" from the first word of an answer (yes/true/no/false, any case), else None; also None
    when the next word hedges: "yes or no", "yes/no", "no and yes", "yes, no"."""
    text = strip_decorations(text).lower().lstrip("*_ ")
    if not _WORD.match(text):
        return None
    words = _WORD.findall(text)
    if len(words) > 1 and words[1] in _YES | _NO | _HEDGE_WORDS:
        return None
    return "yes" if words[0] in _YES else "no" if words[0] in _NO else None


def match_yesno(candidate: str | None, ground_truth: str) -> Match:
    word = strip_decorations(ground_truth).lower()
    if word not in _YES | _NO:
        raise BadGroundTruth("ground_truth", f"not yes/no: {ground_truth[:80]!r}")
    truth = "yes" if word in _YES else "no"
    predicted = yes_or_no(candidate) if candidate else None
    if predicted is None:
        return Match(0.0, "")
    return Match(float(predicted == truth), predicted)


def match_number(candidate: str | None, ground_truth: str, rule: str, precision: int | None) -> Match:
    """Correct iff the set of values the answer states (``stated_values``: read whole, or not at all)
    equals the set the ground truth states under ``rule`` (``numbers.value_sets_match``): one value
    when the truth has one, all of them and no other when it has several. A percentage on one side
    only also counts divided by 100 ("45%" vs 0.45: charts label both ways)."""
    target = stated_values(ground_truth)
    if target is None:
        raise BadGroundTruth("ground_truth", f"not a number: {ground_truth[:80]!r}")
    predicted = stated_values(candidate) if candidate else None
    if predicted is None:
        return Match(0.0, "")
    correct = value_sets_match(predicted, target, rule, precision)
    pred = ", ".join(canonical_number(number.value) + ("%" if number.percent else "") for number in sorted(set(predicted)))
    return Match(float(correct), pred)


def normalise_text(text: str) -> str:
    """Case-folded, whitespace-collapsed, without LaTeX decoration or trailing punctuation."""
    return strip_decorations(text).casefold()


def match_text(candidate: str | None, ground_truth: str) -> Match:
    truth = normalise_text(ground_truth)
    if not truth:
        raise BadGroundTruth("ground_truth", "empty")
    predicted = normalise_text(candidate) if candidate else ""
    return Match(float(bool(predicted) and predicted == truth), predicted)
