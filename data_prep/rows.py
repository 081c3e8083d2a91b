"""One verl row from question text, images and a ground truth (DATASETS.md "Target row").

Every converter, and the synthetic task, ends in ``build_row``. The conventions shared with
``vogue_reward`` are enforced here, so a row that reaches the parquet file is one the reward functions
can score. Ground truth per ``extra_info.answer_type``:
- choice: the correct letter(s), uppercase, sorted, joined by ", " ("B", "A, C"); ``extra_info.choices``
  holds the option texts in letter order when they are known;
- yesno: "yes" or "no";
- number: a plain number string ("12", "0.35", "-4") compared by ``extra_info.numeric_rule``, the
  benchmark's own rule (``vogue_reward.answer_types.NUMERIC_RULES``): exact, relaxed (ChartQA's 5 %
  relative tolerance), precision (MathVista: rounded to ``extra_info.precision`` decimals) or mmmu;
- math: a free-form (LaTeX) answer for math-verify; text: compared after normalisation.
"""

from __future__ import annotations

import re

from data_prep.errors import BadRow
from data_prep.images import to_rgb_bytes
from vogue_reward.answer_types import NUMERIC_RULES

__all__ = [
    "INSTRUCTION",
    "ANSWER_TYPES",
    "build_row",
    "normalise_ground_truth",
    "normalise_letters",
    "as_number",
    "render_choices",
    "parse_inline_options",
    "letter",
]

INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final "
    "answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE "
    "put in \\boxed{}."
)
PLACEHOLDER = "<image>"
ANSWER_TYPES = ("math", "choice", "yesno", "number", "text")
MATH_SOURCES = frozenset({"mmrl30k", "geo3k", "virl39k", "mmk12", "mathverse", "mathvista", "wemath", "mathvision"})
_CORE_EXTRA_KEYS = frozenset({"split", "index", "answer_type", "question", "choices", "numeric_rule"})
_LAST_RUN_LETTER = "H"
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def letter(position: int) -> str:
    """0 → "A", 1 → "B", …"""
    return chr(ord("A") + position)


def as_number(text: str) -> str | None:
    """The plain number string in ``text`` ("1,234" → "1234", " -0.5 " → "-0.5"), or None if it is not one."""
    text = str(text).strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    return text.lstrip("+") if _NUMBER.match(text) else None


def normalise_letters(answer: str, n_choices: int | None = None) -> str:
    """Correct option letter(s) → uppercase, sorted, joined by ", ".

    Accepts "b", "(B)", "B.", "A, C", "C and A", and ascending runs of A–H ("AC"; not "TWO"). Raises
    BadRow("ground_truth") when something else remains or a letter is beyond the ``n_choices`` options.
    """
    text = str(answer).strip().upper()
    tokens = [token for token in re.split(r"[\s,;/]+|\bAND\b", re.sub(r"[().:\[\]]", " ", text)) if token]
    run = tokens[0] if len(tokens) == 1 else ""
    if len(run) > 1 and run.isalpha() and list(run) == sorted(set(run)) and run[-1] <= _LAST_RUN_LETTER:
        tokens = list(run)  # "ACD": run-together letters, ascending as option lists are written
    if not tokens or any(len(token) != 1 or not token.isalpha() for token in tokens):
        raise BadRow("ground_truth", "not an option letter", repr(answer))
    letters = sorted(set(tokens))
    if n_choices is not None and any(ord(item) - ord("A") >= n_choices for item in letters):
        raise BadRow("ground_truth", "option letter beyond the choices", f"{answer!r} with {n_choices} choices")
    return ", ".join(letters)


def normalise_ground_truth(ground_truth, answer_type: str, choices: list[str] | None = None) -> str:
    """The ground-truth string ``vogue_reward`` expects for ``answer_type`` (module docstring).

    choice → "A" / "A, C"; yesno → "yes"/"no"; number → a plain number string; math/text → the
    stripped answer. Raises BadRow("ground_truth") on a missing or malformed answer.
    """
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, got {answer_type!r}")
    if ground_truth is None or not str(ground_truth).strip():
        raise BadRow("ground_truth", "missing answer")
    text = str(ground_truth).strip()
    if answer_type == "choice":
        return normalise_letters(text, len(choices) if choices else None)
    if answer_type == "yesno":
        word = text.lower().rstrip(".")
        if word not in ("yes", "no"):
            raise BadRow("ground_truth", "not yes/no", repr(ground_truth))
        return word
    if answer_type == "number":
        number = as_number(text)
        if number is None:
            raise BadRow("ground_truth", "not a number", repr(ground_truth))
        return number
    return text


def render_choices(question: str, choices: list[str]) -> str:
    """``question`` followed by "Choices:" and one "A. text" line per option."""
    lines = [f"{letter(i)}. {text}" for i, text in enumerate(choices)]
    return question.rstrip() + "\nChoices:\n" + "\n".join(lines)


def parse_inline_options(text: str) -> list[str] | None:
    """Option texts written inside a question ("A. 3\\nB. 4", "Options: A: x, B: y", "(A) x (B) y").

    Markers must run A, B, C… in order; the last run of at least two wins (so "point A." earlier in
    the question does not start one). The last option ends at its line's end. None when there is none.
    """
    def marker(option_letter: str) -> re.Pattern:
        return re.compile(rf"(?:^|(?<=[\s,;:]))\(?{option_letter}\s?[.:：)]\s*", re.MULTILINE)

    for start in reversed(list(marker("A").finditer(text))):
        spans = [start]
        while True:
            following = marker(letter(len(spans))).search(text, spans[-1].end())
            if following is None:
                break
            spans.append(following)
        if len(spans) < 2:
            continue
        options = [text[a.end() : b.start()] for a, b in zip(spans, spans[1:])]
        options.append(text[spans[-1].end() :].split("\n", 1)[0])
        options = [option.strip().rstrip(",;").strip() for option in options]
        if all(options):
            return options
    return None


def build_row(
    data_source: str,
    split: str,
    index: int,
    question: str,
    images: list,
    ground_truth,
    answer_type: str,
    choices: list[str] | None = None,
    extra: dict | None = None,
    max_pixels: int | None = None,
    image_dir: str | None = None,
    numeric_rule: str | None = None,
) -> dict:
    """One verl row.

    question: the text shown to the model; ``<image>`` marks where each image goes. With no
        placeholder, one per image is put in front; otherwise the count must equal len(images).
    images: PIL images, encoded bytes, ``{"bytes", "path"}`` dicts or paths (relative to ``image_dir``);
        stored as RGB PNG/JPEG bytes, downscaled to at most ``max_pixels`` keeping the aspect ratio.
    ground_truth / answer_type / choices: see ``normalise_ground_truth``; ``choices`` are the option
        texts in letter order (kept in extra_info, not rendered: pass a question that shows them).
    extra: source ids kept in ``extra_info`` (same keys on every row of a file).
    numeric_rule: how a "number" answer is compared (one of NUMERIC_RULES); None for other types.
    The prompt is ``question + "\\n" + INSTRUCTION``. Raises BadRow naming the field ("question",
    "images[i]", "ground_truth", "choices") for a row that cannot be converted.
    """
    if not isinstance(question, str):
        raise BadRow("question", "missing question text", f"got {type(question).__name__}")
    placeholders = question.count(PLACEHOLDER)
    if placeholders == 0:
        question = PLACEHOLDER * len(images) + question
    elif placeholders != len(images):
        raise BadRow("question", "placeholder/image count mismatch", f"{placeholders} <image>, {len(images)} images")
    shown_text = question.replace(PLACEHOLDER, "").strip()
    if not shown_text:
        raise BadRow("question", "empty question text")
    if choices is not None:
        choices = [str(choice).strip() for choice in choices]
        if not choices or not all(choices):
            raise BadRow("choices", "empty option text", repr(choices))
    if numeric_rule not in (NUMERIC_RULES if answer_type == "number" else (None,)):
        raise ValueError(f"numeric_rule must be one of {NUMERIC_RULES} for number answers and None otherwise, "
                         f"got {numeric_rule!r} for {answer_type!r}")
    ground_truth = normalise_ground_truth(ground_truth, answer_type, choices)
    extra = dict(extra or {})
    clashes = _CORE_EXTRA_KEYS & set(extra)
    if clashes:
        raise ValueError(f"extra keys {sorted(clashes)} clash with extra_info's own fields")
    encoded = [to_rgb_bytes(image, f"images[{i}]", max_pixels, image_dir) for i, image in enumerate(images)]
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": question.rstrip() + "\n" + INSTRUCTION}],
        "images": [{"bytes": data, "path": None} for data in encoded],
        "ability": "math" if data_source in MATH_SOURCES else "general",
        "reward_model": {"style": "rule", "ground_truth": ground_truth},
        "extra_info": {
            "split": split,
            "index": int(index),
            "answer_type": answer_type,
            "question": shown_text,
            "choices": choices,
            "numeric_rule": numeric_rule,
            **extra,
        },
    }
