"""AI4Math/MathVista testmini: multiple-choice answers are the choice TEXT (converted to its letter);
free-form floats are compared at ``precision`` decimals, integers exactly; the image is ``decoded_image``."""

import math

from data_prep.converters.common import (
    DatasetSpec,
    letter_of_choice,
    row_fields,
    string_list,
    struct_value,
    text_ids,
    text_value,
)
from data_prep.errors import BadRow
from data_prep.rows import render_choices

_FREE_FORM_TYPES = {"integer": "number", "float": "number", "text": "text", "list": "text"}
_METADATA_KEYS = ("category", "task", "context", "grade", "source", "language")


def decimal_places(value) -> int | None:
    """``precision`` (decimal places, stored as a float: 2.0) as an int; None when empty. Anything but a
    whole number ≥ 0 is a bad row."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise BadRow("precision", "not a number of decimal places", repr(value))
    return int(number)


def _free_form(record: dict) -> tuple[str, str | None, int | None]:
    """(answer_type, numeric_rule, precision) of a free-form row."""
    source_type = record["answer_type"]
    if source_type not in _FREE_FORM_TYPES:
        raise BadRow("answer_type", "unknown answer type", repr(source_type))
    precision = decimal_places(record.get("precision")) if source_type == "float" else None
    if _FREE_FORM_TYPES[source_type] != "number":
        return _FREE_FORM_TYPES[source_type], None, None
    return "number", "exact" if precision is None else "precision", precision


def to_fields(record: dict) -> dict:
    question = text_value(record, "question").strip()
    unit = text_value(record, "unit").strip()
    if unit:
        question += f" (Unit: {unit})"
    choices, answer, numeric_rule, precision = None, record["answer"], None, None
    if record["question_type"] == "multi_choice":
        choices = string_list(record, "choices")
        if not choices:
            raise BadRow("choices", "multiple-choice question without choices")
        question = render_choices(question, choices)
        answer, answer_type = letter_of_choice(record["answer"], choices, "answer"), "choice"
    else:
        answer_type, numeric_rule, precision = _free_form(record)
    extra = {
        **text_ids(record, {"pid": "pid", "question_type": "question_type", "source_answer_type": "answer_type"}),
        "unit": unit or None,
        "precision": precision,
        **text_ids(struct_value(record, "metadata"), {key: key for key in _METADATA_KEYS}),
    }
    return row_fields(question, [record["decoded_image"]], ["decoded_image"], answer, answer_type, choices, extra,
                      numeric_rule)


SPEC = DatasetSpec(
    name="mathvista",
    hub_id="AI4Math/MathVista",
    splits=("testmini", "test"),
    columns=frozenset({"question", "decoded_image", "choices", "answer", "question_type", "answer_type"}),
    optional_columns=frozenset({"pid", "unit", "precision", "metadata"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "choices"},
    id_column="pid",
)
