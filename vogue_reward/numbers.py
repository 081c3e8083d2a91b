"""Numbers inside short answers, and the two numeric comparisons benchmarks use.

- relaxed accuracy (ChartQA): |pred − gt| ≤ 0.05·|gt|, and pred == gt exactly when gt = 0;
- precision-aware (MathVista ``precision``): round(pred, p) == round(gt, p).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from vogue_reward.extraction import strip_decorations

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+"
_NUMBER_OR_FRACTION = re.compile(rf"(?P<numerator>{_NUMBER})(?:\s*/\s*(?P<denominator>{_NUMBER}))?")
_LATEX_FRACTION = re.compile(rf"\\frac\s*\{{\s*({_NUMBER})\s*\}}\s*\{{\s*({_NUMBER})\s*\}}")
DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_PERCENT = re.compile(r"%|\bpercent\b", re.IGNORECASE)
_DIGIT = re.compile(r"\d")

RELATIVE_TOLERANCE = 0.05


class ParsedNumber(NamedTuple):
    value: float
    percent: bool


def _to_float(token: str) -> float:
    return float(token.replace(",", ""))


def parse_number(text: str) -> ParsedNumber | None:
    """The single number an answer states, ignoring units, currency, degrees and thousands separators.

    Accepts "12", "-0.35", "1,234.5", "3/4", "\\frac{3}{4}", "45\\%", "12 cm", "$1.2$ million",
    "30^\\circ"; None when there is no number or more than one ("1, 2", "2019: 12"), or a zero
    denominator.

    >>> parse_number("\\\\text{about } 1,234.5 \\\\text{ kg}")
    ParsedNumber(value=1234.5, percent=False)
    >>> parse_number("45\\\\%")
    ParsedNumber(value=45.0, percent=True)
    """
    text = strip_decorations(text).replace("−", "-").replace("\\%", "%").replace("\\$", "")
    text = _LATEX_FRACTION.sub(r"\1/\2", DEGREES.sub(" ", text))
    matches = list(_NUMBER_OR_FRACTION.finditer(text))
    if len(matches) != 1:
        return None
    match = matches[0]
    if _DIGIT.search(text[: match.start()] + " " + text[match.end() :]):
        return None
    value = _to_float(match.group("numerator"))
    if match.group("denominator") is not None:
        denominator = _to_float(match.group("denominator"))
        if denominator == 0:
            return None
        value /= denominator
    if math.isnan(value):
        return None
    return ParsedNumber(value, bool(_PERCENT.search(text)))


def plain_number(text: str) -> float | None:
    """The value of ``text`` if it is nothing but a decimal number ("12", "-0.5", "1,000", "2e3")."""
    text = text.strip()
    return _to_float(text) if re.fullmatch(_NUMBER, text) else None


def plain_number_readings(text: str) -> tuple[float, ...] | None:
    """The values a bare number or percentage may mean: "12" → (12,), "15%" / "15\\%" → (15, 0.15)
    (answers and labels write percentages both ways); None for anything else."""
    text = text.strip()
    percent = text.endswith("%")
    value = plain_number(text.removesuffix("%").removesuffix("\\") if percent else text)
    if value is None:
        return None
    return (value, value / 100) if percent else (value,)


def relaxed_match(prediction: float, target: float, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    """ChartQA relaxed accuracy: |prediction − target| ≤ tolerance·|target|; exact when target = 0."""
    if target == 0:
        return prediction == 0
    return abs(prediction - target) <= tolerance * abs(target)


def rounded_match(prediction: float, target: float, precision: int) -> bool:
    """MathVista: equal after rounding both to ``precision`` decimal places."""
    return round(prediction, precision) == round(target, precision)
