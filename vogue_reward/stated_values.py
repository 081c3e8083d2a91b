"""The values a short answer states, read by a fixed grammar (docs/rewards.md "Rewards and answer types").

An answer scores only for what it states, so it is read whole or not at all:

    answer     := item {separator item}, optionally inside set braces \\{ … \\}
    separator  := a comma followed by whitespace | ";" | \\quad | "and" | "&"
    item       := [qualifier] [name "="] expression {unit} [% | percent]
    expression := term {(+ | -) term}          term := signed {(× | / ) signed}
    signed     := (+ | -) signed | power        power := atom [^ exponent]   (an integer exponent)
    atom       := number [\\frac{…}{…}] | (expression) | {expression} | \\frac{expression}{expression}
    number     := 12 | 0.5 | .5 | 1,000,000 | 2e3

``×`` is also ``\\times``, ``\\cdot``, ``·``, ``*``; ``/`` also ``\\div``, ``÷``; ``−`` is a minus. A ``±`` (``\\pm``,
``\\mp``) makes an item state both signs: ``5 \\pm 1`` states 6 and 4, ``\\pm 3`` states 3 and −3. A unit is a
word of ``UNIT_WORDS`` (or its plural, or one of ``SINGLE_LETTER_UNITS``) with an optional exponent
(``cm^2``), joined by spaces, ``/`` or ``per``; currency signs and degree marks are units too.

A comma between digits is a thousands separator only in groups of three (``1,000,000``); a comma
followed by whitespace separates values (``2, 3``); any other comma between digits (``2,5``: a decimal
comma in much of the world, a list elsewhere) leaves the answer unread.

Anything else leaves the answer unread (``None``; it scores 0): a variable (``2x``, ``x_3``, ``x^2``), a
function or a constant (``\\sqrt{2}``, ``\\sin 30``, ``2\\pi``, ``e^{1}``), a factorial (``5!``), a word
outside the unit list (``5 or 6``, ``not 5``, ``maybe 5``), two numbers side by side (``2 3``, ``1 -0.5``), a zero
denominator, or a value of more than ``numbers.MAX_DIGITS`` digits.
"""

from __future__ import annotations

import itertools
import math
import re
from fractions import Fraction

from vogue_reward.extraction import strip_decorations
from vogue_reward.numbers import DEGREES, MAX_DIGITS, ParsedNumber, exact_decimal

MAX_PLUS_MINUS = 3  # ± signs in one item (each doubles the values it states)
MAX_NESTING = 20  # brackets and braces inside one another
_MAX_BITS = MAX_DIGITS * 10 // 3 + 4  # a bit bound just above MAX_DIGITS decimal digits
_UNSIGNED = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+")
_PLAIN_INTEGER = re.compile(r"\d+")
_DIGIT = re.compile(r"\d")
_CURRENCY = re.compile(r"\\\$|[$€£¥]")
_WIDE_SPACE = re.compile(r"\\q?quad\b")  # between values, never inside an expression
_SYMBOLS = (
    ("−", "-"), ("\\%", "%"), ("\\times", "*"), ("\\cdot", "*"), ("×", "*"), ("·", "*"), ("\\div", "/"),
    ("÷", "/"), ("²", "^2"), ("³", "^3"), ("\\pm", "±"), ("\\mp", "±"), ("∓", "±"),
)
_SET = re.compile(r"\\\{(.*)\\\}", re.DOTALL)
_SEPARATOR = re.compile(r",\s+|\s*;\s*|\s+and\s+|\s*&\s*", re.IGNORECASE)
_LEAD = re.compile(r"(?:(?:approximately|about|around|roughly)\s+|≈\s*|\\approx\s*|~\s*)?(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)?")
_PERCENT = re.compile(r"\s*(?:%|percent(?:age)?\b)", re.IGNORECASE)
_UNIT = re.compile(r"\s*(?:(?:/|\*|\bper\b)\s*)?(?P<word>[A-Za-zµΩ]+|['\"])(?:\s*\^\s*(?:\{\s*-?\d\s*\}|-?\d))?")
_SPACE = re.compile(r"\s*")

SINGLE_LETTER_UNITS = frozenset("mgshlLtKCFVAWNB'\"")
# Words that may follow a number without changing what it states: units, currencies, and scale words
# read as labels ("1.2 million" states 1.2, as a chart's axis in millions does). Only these: any other
# word (a variable, "or", "not", "maybe") leaves the answer unread.
UNIT_WORDS = frozenset(
    """mm cm dm km nm um µm in inch inches ft foot feet yd yard mi mile meter metre centimeter centimetre
    millimeter millimetre kilometer kilometre ha acre sq square cubic mg kg ton tonne lb lbs pound oz ounce gram
    kilogram ms sec second min minute hr hour day week month yr year ml cl liter litre gal gallon cc mph kph
    kmh degree deg rad radian celsius fahrenheit kelvin dollar usd cent euro yuan rmb yen rupee kj kw kwh wh
    mah pa kpa hz khz mhz ghz cal kcal kb mb gb tb bit byte unit item thousand million billion trillion bn
    """.split()
)


class _Unread(Exception):
    """The text is not an answer this grammar reads."""


def is_unit(word: str) -> bool:
    """``word`` is a unit (``UNIT_WORDS``, a plural of one, or a single-letter unit)."""
    if len(word) == 1:
        return word in SINGLE_LETTER_UNITS
    word = word.casefold()
    return word in UNIT_WORDS or (word.endswith("s") and word[:-1] in UNIT_WORDS)


def _bounded(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
        raise _Unread
    return value


class _Reader:
    """Recursive descent over one item (module docstring); raises ``_Unread``."""

    def __init__(self, text: str):
        self.text, self.at, self.depth = text, 0, 0

    def _skip_space(self) -> None:
        self.at = _SPACE.match(self.text, self.at).end()

    def take(self, token: str) -> bool:
        self._skip_space()
        if self.text.startswith(token, self.at):
            self.at += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise _Unread

    def expression(self) -> Fraction:
        value = self.term()
        while True:
            if self.take("+"):
                self._balanced_spacing()
                value = _bounded(value + self.term())
            elif self.take("-"):
                self._balanced_spacing()
                value = _bounded(value - self.term())
            else:
                return value

    def _balanced_spacing(self) -> None:
        """A binary sign is spaced alike on both sides: ``1 - 0.5`` and ``1-0.5`` subtract, ``1 -0.5`` is two
        values side by side."""
        if self.text[self.at - 2 : self.at - 1].isspace() != self.text[self.at : self.at + 1].isspace():
            raise _Unread

    def term(self) -> Fraction:
        value = self.signed()
        while True:
            if self.take("*"):
                value = _bounded(value * self.signed())
            elif self.take("/"):
                value = self._divide(value, self.signed())
            else:
                return value

    @staticmethod
    def _divide(numerator: Fraction, denominator: Fraction) -> Fraction:
        if denominator == 0:
            raise _Unread
        return _bounded(numerator / denominator)

    def signed(self) -> Fraction:
        negative = False
        while (minus := self.take("-")) or self.take("+"):
            negative ^= minus
        value = self.power()
        return -value if negative else value

    def power(self) -> Fraction:
        base = self.atom()
        if not self.take("^"):
            return base
        if self.take("{"):
            exponent = self.enclosed("}")
        else:
            digit = _DIGIT.match(self.text, self.at)
            if digit is None:
                raise _Unread
            self.at, exponent = digit.end(), Fraction(digit.group())
        if exponent.denominator != 1 or (base == 0 and exponent < 0):
            raise _Unread
        size = max(math.log2(abs(base.numerator) or 1), math.log2(base.denominator))  # bits of the larger part
        magnitude = abs(exponent.numerator)  # compared as an int first: a huge one does not convert to float
        if size and (magnitude > _MAX_BITS or size * magnitude > _MAX_BITS):
            raise _Unread
        return base**exponent.numerator

    def enclosed(self, closing: str) -> Fraction:
        """The expression up to ``closing``, its opening just taken."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Unread
        value = self.expression()
        self.expect(closing)
        self.depth -= 1
        return value

    def fraction(self) -> Fraction:
        self.expect("{")
        numerator = self.enclosed("}")
        self.expect("{")
        return self._divide(numerator, self.enclosed("}"))

    def atom(self) -> Fraction:
        for opening, closing in (("(", ")"), ("{", "}")):
            if self.take(opening):
                return self.enclosed(closing)
        if self.take("\\frac"):
            return self.fraction()
        self._skip_space()
        number = _UNSIGNED.match(self.text, self.at)
        if number is None:
            raise _Unread
        self.at = number.end()
        value = exact_decimal(number.group())
        if value is None:
            raise _Unread
        if _PLAIN_INTEGER.fullmatch(number.group()) and self.text.startswith("\\frac", self.at):
            self.at += len("\\frac")  # a mixed number, written without a space: 3\frac{1}{2}
            value += self.fraction()
        return value

    def tail(self) -> bool:
        """Units and a percent sign up to the end of the item; returns whether it is a percentage."""
        percent = False
        while self.at < len(self.text):
            mark = _PERCENT.match(self.text, self.at)
            unit = None if mark else _UNIT.match(self.text, self.at)
            if mark:
                percent, self.at = True, mark.end()
            elif unit and is_unit(unit.group("word")):
                self.at = unit.end()
            else:
                raise _Unread
            self._skip_space()
        return percent


def _normalised(text: str) -> str:
    text = strip_decorations(_WIDE_SPACE.sub(";", _CURRENCY.sub(" ", text)), keep_math_marks=True)
    for symbol, plain in _SYMBOLS:
        text = text.replace(symbol, plain)
    text = DEGREES.sub(" ", text).strip()
    in_set = _SET.fullmatch(text)
    return in_set.group(1).strip() if in_set else text


def _read_item(item: str) -> ParsedNumber:
    reader = _Reader(item[_LEAD.match(item).end() :])
    value = reader.expression()
    percent = reader.tail()
    return ParsedNumber(value, percent)


def _sign_choices(item: str) -> list[str]:
    """``item`` with each ± replaced by + and by −, every combination."""
    parts = item.split("±")
    if len(parts) - 1 > MAX_PLUS_MINUS:
        raise _Unread
    return ["".join(itertools.chain.from_iterable(zip(parts, signs + ("",)))) for signs in
            itertools.product("+-", repeat=len(parts) - 1)]


def stated_values(text: str) -> tuple[ParsedNumber, ...] | None:
    """The values ``text`` states, in order (module docstring); None when it is not read.

    >>> [str(number.value) for number in stated_values(r"2^{3}, \\frac{18}{4} \\text{ cm}^2")]
    ['8', '9/2']
    """
    try:
        items = _SEPARATOR.split(_normalised(text))
        values = tuple(_read_item(choice) for item in items for choice in _sign_choices(item))
    except _Unread:
        return None
    return values or None


def stated_value(text: str) -> ParsedNumber | None:
    """The one value ``text`` states; None when it states none or several."""
    values = stated_values(text)
    return values[0] if values is not None and len(set(values)) == 1 else None
