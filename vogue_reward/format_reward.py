"""Format reward of METHOD.md §6: reasoning inside ``<think>…</think>``, then the answer in ``\\boxed{…}``."""

from __future__ import annotations

from vogue_reward.extraction import last_boxed


def format_reward(response: str) -> float:
    """1.0 iff the response starts with ``<think>`` (leading whitespace allowed), has exactly one
    ``<think>`` and one ``</think>``, and a closed ``\\boxed{…}`` follows the ``</think>``; else 0.0.

    One think block only, so repeating tags earns nothing; an empty think block still counts (the
    paper's rule is about shape, not content).

    >>> format_reward("<think>2+2=4</think> The answer is \\\\boxed{4}.")
    1.0
    >>> format_reward("\\\\boxed{4}")
    0.0
    """
    text = response.lstrip()
    if not text.startswith("<think>") or text.count("<think>") != 1 or text.count("</think>") != 1:
        return 0.0
    after_thinking = text[text.index("</think>") + len("</think>") :]
    return 1.0 if last_boxed(after_thinking) is not None else 0.0
