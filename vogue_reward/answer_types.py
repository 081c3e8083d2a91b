"""Which matcher scores a row (``extra_info["answer_type"]``) and how a "number" row compares
(``extra_info["numeric_rule"]``), or a guess when a row lacks them."""

from __future__ import annotations

import re
from typing import Sequence

from vogue_reward.numbers import plain_number

ANSWER_TYPES = ("math", "choice", "yesno", "number", "text")
# How a "number" row is compared (extra_info.numeric_rule, docs/rewards.md "Rewards and answer types"):
# exact (equal values), relaxed (ChartQA, 5%), precision (MathVista), mmmu (MMMU's open questions)
NUMERIC_RULES = ("exact", "relaxed", "precision", "mmmu")
NUMERIC_RULE_BY_SOURCE = {"chartqa": "relaxed", "mathvista": "precision", "mmmu": "mmmu"}
_LETTER_LIST = re.compile(r"^[A-J](?:\s*,\s*[A-J])*$")


def infer_answer_type(data_source: str, ground_truth: str, choices: Sequence[str] | None) -> str:
    """The answer type of a row without ``answer_type``, first rule that applies:
    yes/no ground truth, or HallusionBench → "yesno"; option letters ("B", "A, C") → "choice";
    ChartQA → "number" if the ground truth is a plain number, else "text"; otherwise "math"
    (math-verify also compares non-numeric answers as strings).

    >>> infer_answer_type("mathvista", "A, C", None)
    'choice'
    """
    truth = ground_truth.strip()
    if truth.lower() in ("yes", "no") or data_source == "hallusionbench":
        return "yesno"
    if _LETTER_LIST.match(truth) and (choices or len(truth) == 1):
        return "choice"
    if data_source == "chartqa":
        return "number" if plain_number(truth) is not None else "text"
    return "math"


def infer_numeric_rule(data_source: str, precision: int | None) -> str:
    """The rule of a "number" row without ``numeric_rule`` (files prepared before the field existed):
    its benchmark's (``NUMERIC_RULE_BY_SOURCE``), else "precision" when the row gives a precision, else
    "exact" (never a tolerance the benchmark does not use).

    >>> infer_numeric_rule("chartqa", None), infer_numeric_rule("mathverse", None)
    ('relaxed', 'exact')
    """
    if data_source in NUMERIC_RULE_BY_SOURCE:
        return NUMERIC_RULE_BY_SOURCE[data_source]
    return "exact" if precision is None else "precision"
