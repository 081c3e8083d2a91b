"""Numbers inside short answers, read exactly (``fractions.Fraction``), and the benchmarks' numeric rules.

The rules (``extra_info.numeric_rule``, ``answer_types.NUMERIC_RULES``):
- exact: equal values;
- relaxed (ChartQA): |pred − gt| ≤ 0.05·|gt|, and pred == gt when gt = 0;
- precision (MathVista): equal after rounding both to ``precision`` decimal places; exact without one;
- mmmu (MMMU's ``eval_open``): equal after rounding both to 2 decimal places.
Rounding is half to even on the exact decimal value.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple, Sequence


_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+"
_EXPONENT_DIGITS = r"(?:\{\s*([-+]?\d+)\s*\}|([-+]?\d))"
_TIMES_TEN = re.compile(rf"(?<=\d)\s*(?:\\times|\\cdot|×)\s*10\s*\^\s*{_EXPONENT_DIGITS}")
_POWER_OF_TEN = re.compile(rf"10\s*\^\s*{_EXPONENT_DIGITS}")
DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")

RELATIVE_TOLERANCE = Fraction(5, 100)
MMMU_DECIMALS = 2
# Python refuses to convert integers of more than 4,300 digits to and from text; no answer needs them
MAX_DIGITS = 4_000


class ParsedNumber(NamedTuple):
    value: Fraction
    percent: bool


def exact_decimal(token: str) -> Fraction | None:
    """The exact value of a decimal token ("1,234.5", "2e-3"); None when writing it out would take
    more than ``MAX_DIGITS`` digits."""
    token = token.replace(",", "")
    mantissa, _, exponent = token.lower().partition("e")
    if len(exponent) > len(str(MAX_DIGITS)) + 1 or len(mantissa) + abs(int(exponent or 0)) > MAX_DIGITS:
        return None
    return Fraction(token)


def _scientific(text: str) -> str:
    """``1.2\\times10^{3}`` / ``1.2 \\cdot 10^3`` → ``1.2e3``."""
    return _TIMES_TEN.sub(lambda match: "e" + (match.group(1) or match.group(2)), text)


def plain_number(text: str) -> Fraction | None:
    """The value of ``text`` if it is nothing but a decimal number ("12", "-0.5", "1,000", "2e3",
    "2\\times10^{3}", "10^{3}")."""
    text = text.strip().replace("−", "-")
    power = _POWER_OF_TEN.fullmatch(text)
    text = f"1e{power.group(1) or power.group(2)}" if power else _scientific(text)
    return exact_decimal(text) if re.fullmatch(_NUMBER, text) else None


def plain_percentage(text: str) -> ParsedNumber | None:
    """A bare number ("12") or percentage ("15%", "15\\%"); None for anything else."""
    text = text.strip()
    percent = text.endswith("%")
    value = plain_number(text.removesuffix("%").removesuffix("\\") if percent else text)
    return None if value is None else ParsedNumber(value, percent)


def value_interpretations(
    predicted: Sequence[ParsedNumber], target: Sequence[ParsedNumber]
) -> list[tuple[list[Fraction], list[Fraction]]]:
    """The (prediction, target) values to compare: as written; and, when only one side writes
    percentages, also with that side's percentages divided by 100 (answers and labels write
    percentages both ways: "15%" matches 15 and 0.15, but "1500%" does not match "15%")."""
    def values(numbers: Sequence[ParsedNumber], scale: bool) -> list[Fraction]:
        return [number.value / 100 if scale and number.percent else number.value for number in numbers]

    predicted_percent, target_percent = any(n.percent for n in predicted), any(n.percent for n in target)
    readings = [(values(predicted, False), values(target, False))]
    if predicted_percent and not target_percent:
        readings.append((values(predicted, True), values(target, False)))
    if target_percent and not predicted_percent:
        readings.append((values(predicted, False), values(target, True)))
    return readings


def value_sets_match(
    predicted: Sequence[ParsedNumber], target: Sequence[ParsedNumber], rule: str, precision: int | None
) -> bool:
    """The sets of values are equal under ``rule``: the same number of distinct values, and sorted, each
    pair matches (``numbers_match``; every rule is monotone, so sorted pairing finds a matching whenever
    one exists). One reading of ``value_interpretations`` must match throughout."""
    for prediction, truth in value_interpretations(predicted, target):
        prediction, truth = sorted(set(prediction)), sorted(set(truth))
        if len(prediction) == len(truth) and all(
            numbers_match(a, b, rule, precision) for a, b in zip(prediction, truth)
        ):
            return True
    return False


def relaxed_match(prediction: Fraction, target: Fraction, tolerance: Fraction = RELATIVE_TOLERANCE) -> bool:
    """ChartQA relaxed accuracy: |prediction − target| ≤ tolerance·|target|; exact when target = 0."""
    if target == 0:
        return prediction == 0
    return abs(prediction - target) <= tolerance * abs(target)


def rounded_match(prediction: Fraction, target: Fraction, places: int) -> bool:
    """Equal after rounding both to ``places`` decimal places (half to even, exactly)."""
    return round(prediction, places) == round(target, places)


def numbers_match(prediction: Fraction, target: Fraction, rule: str, precision: int | None) -> bool:
    """``prediction`` vs ``target`` under one of ``answer_types.NUMERIC_RULES`` (module docstring)."""
    if rule == "relaxed":
        return relaxed_match(prediction, target)
    if rule == "mmmu":
        return rounded_match(prediction, target, MMMU_DECIMALS)
    if rule == "precision" and precision is not None:
        return rounded_match(prediction, target, precision)
    return prediction == target


def canonical_number(value: Fraction) -> str:
    """Exact canonical text: "12", "-0.35", "1/3" (a fraction when the decimal does not terminate)."""
    if value.denominator == 1:
        return str(value.numerator)
    twos, fives, rest = 0, 0, value.denominator
    while rest % 2 == 0:
        twos, rest = twos + 1, rest // 2
    while rest % 5 == 0:
        fives, rest = fives + 1, rest // 5
    if rest != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
    return f"{'-' if value < 0 else ''}{digits[:-places]}.{digits[-places:]}"
