"""Format reward: exactly one leading think block, then a closed box."""

import pytest

from vogue_reward.format_reward import format_reward


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<think>reason</think> The answer is \\boxed{4}.", 1.0),
        ("\n  <think>reason</think>\n\\boxed{4}", 1.0),
        ("<think></think>\\boxed{4}", 1.0),
        ("<think>reason</think>\\boxed{\\frac{1}{2}}", 1.0),
        ("<think>reason \\boxed{4}</think> 4", 0.0),  # the box is inside the thinking
        ("<think>reason</think> 4", 0.0),
        ("<think>reason</think> \\boxed{4", 0.0),  # truncated box
        ("<think>reason \\boxed{4}", 0.0),  # thinking never closed
        ("reason</think> \\boxed{4}", 0.0),
        ("Intro <think>reason</think> \\boxed{4}", 0.0),
        ("<think>a</think><think>b</think> \\boxed{4}", 0.0),
        ("<think>a</think> \\boxed{4} </think>", 0.0),
        ("\\boxed{4}", 0.0),
        ("", 0.0),
        ("<THINK>a</THINK> \\boxed{4}", 0.0),
    ],
)
def test_format_reward(response, expected):
    assert format_reward(response) == expected
