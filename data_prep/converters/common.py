"""What every converter module shares: its spec, and the answer/placeholder rules several sources need."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from data_prep.errors import BadRow
from data_prep.rows import as_number, letter, parse_inline_options

_LETTER_ANSWER = re.compile(r"^\(?([A-Z])\)?\.?$")
_NUMBERED_PLACEHOLDER = re.compile(r"<image\s*(\d+)>")


@dataclass(frozen=True)
class DatasetSpec:
    """One source dataset.

    ``columns`` are the source columns the converter reads and needs; ``optional_columns`` those it
    reads when the source has them. Any other column is reported and ignored. ``to_fields(record)``
    turns a source record (a dict of its columns, images undecoded) into ``build_row`` keyword
    arguments plus ``image_fields`` (the source column of each image, for error messages). ``fields``
    maps build_row's names ("question", "ground_truth", "choices") to the source columns they come
    from. ``id_column`` identifies a row in error messages.
    """

    name: str
    hub_id: str
    splits: tuple[str, ...]  # the first is the default
    columns: frozenset[str]
    to_fields: Callable[[dict], dict]
    fields: dict[str, str]
    optional_columns: frozenset[str] = field(default_factory=frozenset)
    id_column: str | None = None
    needs_image_dir: bool = False

    @property
    def reads(self) -> frozenset[str]:
        return self.columns | self.optional_columns


def row_fields(question: str, images: list, image_fields: list[str], ground_truth, answer_type: str,
               choices: list[str] | None = None, extra: dict | None = None, numeric_rule: str | None = None) -> dict:
    """What ``to_fields`` returns: ``build_row``'s arguments plus the source column of each image."""
    return {"question": question, "images": images, "image_fields": image_fields, "ground_truth": ground_truth,
            "answer_type": answer_type, "choices": choices, "extra": extra or {}, "numeric_rule": numeric_rule}


def text_value(record: dict, column: str) -> str:
    """The text in ``column`` ("" when empty); anything but text there is a bad row."""
    value = record.get(column)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRow(column, "not text", f"got {type(value).__name__} {value!r}")
    return value


def _is_scalar(item) -> bool:
    return isinstance(item, str | int | float) and not isinstance(item, bool)


def string_list(record: dict, column: str) -> list[str] | None:
    """The strings of a list column (numbers are written as text), None when empty. A single string is a
    bad row rather than a list of its characters."""
    value = record.get(column)
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(_is_scalar(item) for item in value):
        raise BadRow(column, "not a list of strings", f"got {type(value).__name__} {value!r}"[:200])
    return [str(item) for item in value]


def struct_value(record: dict, column: str) -> dict:
    """A struct column's fields ({} when empty); anything else there is a bad row."""
    value = record.get(column)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRow(column, "not a struct", f"got {type(value).__name__} {value!r}"[:200])
    return value


def image_cells(value, column: str) -> tuple[list, list[str]]:
    """(images, their field names) from one cell: a list gives ``column[i]`` names, anything else (a
    path, bytes, an image struct, None) is one image named ``column``, never a list of characters."""
    if isinstance(value, list | tuple):
        return list(value), [f"{column}[{i}]" for i in range(len(value))]
    return [value], [column]


def free_form_fields(record: dict, question_column: str, images: tuple[list, list[str]],
                     extra: dict | None = None) -> dict:
    r"""Training-set rows (EasyR1 layout): ``answer`` with any ``\boxed{}`` removed, math unless it is
    a letter for options listed in the question (``choice_or_math``); ``images`` from ``image_cells``."""
    question = text_value(record, question_column)
    answer = strip_boxed(record["answer"])
    answer_type, choices = choice_or_math(question, answer)
    return row_fields(question, *images, answer, answer_type, choices, extra)


def inline_choice_fields(record: dict, extra: dict) -> dict:
    """Benchmarks whose ``question`` lists the options and whose ``answer`` is the letter(s); one ``image``."""
    question = text_value(record, "question")
    choices = parse_inline_options(question)
    return row_fields(question, [record["image"]], ["image"], record["answer"], "choice", choices, extra)


def text_ids(record: dict, names: dict[str, str]) -> dict[str, str | None]:
    """Source ids for extra_info as strings: ``names`` maps extra_info key → source column."""
    return {key: None if record.get(column) is None else str(record[column]) for key, column in names.items()}


def strip_boxed(answer) -> str:
    r"""The content of the last ``\boxed{…}`` in ``answer`` (braces balanced), or the answer unchanged."""
    text = "" if answer is None else str(answer).strip()
    start = text.rfind("\\boxed{")
    if start < 0:
        return text
    depth = 0
    for position in range(start + len("\\boxed"), len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            return text[start + len("\\boxed{") : position].strip()
    raise BadRow("ground_truth", "unbalanced \\boxed{", repr(answer))


def choice_or_math(question: str, answer: str) -> tuple[str, list[str] | None]:
    """(answer_type, choices) for free-form sources that mix math and multiple choice: a single-letter
    answer to a question listing its options inline is a choice; anything else is math."""
    if _LETTER_ANSWER.match(answer.strip().upper()):
        options = parse_inline_options(question or "")
        if options:
            return "choice", options
    return "math", None


def number_or_text(answer: str) -> str:
    """"number" when the answer is a plain number, else "text"."""
    return "number" if as_number(answer) is not None else "text"


def letter_of_choice(answer, choices: list[str], field_name: str) -> str:
    """The letter of the option whose text equals ``answer`` (MathVista stores the text, not the letter)."""
    stripped = [str(choice).strip() for choice in choices]
    text = "" if answer is None else str(answer).strip()
    if not text:
        raise BadRow(field_name, "missing answer")
    if text not in stripped:
        raise BadRow(field_name, "answer is not one of the choices", f"{text!r} not in {stripped!r}")
    return letter(stripped.index(text))


def numbered_placeholders(text: str, images: dict[int, object], column: Callable[[int], str]) -> tuple[str, list, list[str]]:
    """Turn ``<image 1>``/``<image2>`` references into ``<image>`` placeholders, in order of appearance.

    ``images`` maps number → image value (None when the source cell is empty); ``column(n)`` names its
    source column. Returns (text, images in placeholder order, their columns). Images no placeholder
    refers to are put in front (so none is dropped). A reference to an empty or absent image raises
    BadRow naming that column.
    """
    ordered, columns = [], []
    for match in _NUMBERED_PLACEHOLDER.finditer(text):
        number = int(match.group(1))
        if images.get(number) is None:
            raise BadRow(column(number), "missing image", f"referenced by {match.group(0)}")
        ordered.append(images[number])
        columns.append(column(number))
    referenced = {int(n) for n in _NUMBERED_PLACEHOLDER.findall(text)}
    unreferenced = [n for n in sorted(images) if images[n] is not None and n not in referenced]
    text = _NUMBERED_PLACEHOLDER.sub("<image>", text)
    if unreferenced:
        text = "<image>" * len(unreferenced) + text
        ordered = [images[n] for n in unreferenced] + ordered
        columns = [column(n) for n in unreferenced] + columns
    return text, ordered, columns
