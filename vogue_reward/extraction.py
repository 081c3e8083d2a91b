"""Where the answer sits in a model response, and the LaTeX decoration around it.

Rules (docs/rewards.md "Rewards and answer types"):
- the answer is the content of the LAST ``\\boxed{…}`` (nested braces matched, ``\\{``/``\\}`` escaped);
  a last box that never closes (truncated response) means no answer;
- without a box, the answer region is the text after the last ``</think>``; a ``<think>`` that never
  closes means the response was truncated while thinking, so there is no answer region;
- inside the region, the text after the last "answer is" / "answer:" wins, else the whole region.
"""

from __future__ import annotations

import re

_BRACE = re.compile(r"\\[{}]|[{}]")
_ANSWER_PHRASE = re.compile(r"answer\s*(?:is|:)\s*:?\s*(.+)", re.IGNORECASE)
_WRAPPER = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname|mbox)\s*\{([^{}]*)\}")
_SIZING = re.compile(r"\\(?:left|right|displaystyle)\b")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad\b")
_EDGE_QUOTES_AND_PUNCTUATION = re.compile(r"^[\"'`“”‘’]+|[\"'`“”‘’.。!?;:,\s]+$")
# in maths a trailing ! is a factorial and a trailing ' a prime: only sentence punctuation and quotes
# around the whole answer go
SENTENCE_END = ".。?;:, "
_QUOTES = "\"'`“”‘’"
_WHITESPACE = re.compile(r"\s+")


def braced_content(text: str, open_at: int) -> str | None:
    """Content between ``text[open_at] == "{"`` and its matching ``}``; None if it never closes."""
    depth = 0
    for brace in _BRACE.finditer(text, open_at):
        token = brace.group()
        if len(token) == 2:
            continue
        depth += 1 if token == "{" else -1
        if depth == 0:
            return text[open_at + 1 : brace.start()]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (``\\boxed {…}`` too), or None when there is none or it is unclosed.

    >>> last_boxed(r"first \\boxed{1}, then \\boxed{\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    """
    end = len(text)
    while (start := text.rfind("\\boxed", 0, end)) != -1:
        position = start + len("\\boxed")
        while position < len(text) and text[position] == " ":
            position += 1
        if position < len(text) and text[position] == "{":
            content = braced_content(text, position)
            return None if content is None else content.strip()
        end = start
    return None


def answer_region(text: str) -> str:
    """Text after the last ``</think>``; "" when thinking never closed; the whole text without tags."""
    close = text.rfind("</think>")
    if close != -1:
        return text[close + len("</think>") :]
    return "" if "<think>" in text else text


def candidate_answer(text: str) -> str | None:
    """The answer a response commits to, for the non-math answer types (see the module docstring)."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    region = answer_region(text).strip()
    phrases = _ANSWER_PHRASE.findall(region)
    if phrases:
        return phrases[-1].strip()
    return region or None


def strip_decorations(text: str, keep_math_marks: bool = False) -> str:
    """Drop LaTeX that does not change an answer's meaning: ``$``, ``\\text{…}``-style wrappers,
    ``\\left``/``\\right``, spacing commands, ``\\dfrac``/``\\tfrac`` (→ ``\\frac``), surrounding quotes and
    trailing sentence punctuation; collapse whitespace. ``keep_math_marks`` keeps a trailing ``!`` or
    ``'`` (``5!``, ``f'``) and removes quotes only when they wrap the whole answer."""
    text = text.replace("$", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    previous = None
    while previous != text:
        previous, text = text, _WRAPPER.sub(r"\1", text)
    text = _WHITESPACE.sub(" ", _SPACING.sub(" ", _SIZING.sub("", text))).strip()
    if keep_math_marks:
        text = text.rstrip(SENTENCE_END)
        if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text.strip(_QUOTES).rstrip(SENTENCE_END)
        return text.strip()
    return _EDGE_QUOTES_AND_PUNCTUATION.sub("", text).strip()
