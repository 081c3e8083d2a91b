"""MMMU/MMMU: ``<image k>`` placeholders refer to columns image_1 … image_7 (in any order, also inside
options); ``options`` is the STRING repr of a Python list. Open numeric answers get MMMU's numeric rule."""

import ast

from data_prep.converters.common import (
    DatasetSpec,
    number_or_text,
    numbered_placeholders,
    row_fields,
    text_ids,
    text_value,
)
from data_prep.errors import BadRow
from data_prep.rows import render_choices

IMAGE_COLUMNS = tuple(f"image_{n}" for n in range(1, 8))
_ID_COLUMNS = ("id", "subfield", "img_type", "topic_difficulty")


def parse_options(value) -> list[str]:
    """``"['1', '2']"`` → ['1', '2']; a list passes through. Raises BadRow("options") otherwise."""
    if isinstance(value, list):
        return [str(option) for option in value]
    try:
        options = ast.literal_eval(value or "[]")
    except (ValueError, SyntaxError) as error:
        raise BadRow("options", "not a Python list literal", repr(value)) from error
    if not isinstance(options, list):
        raise BadRow("options", "not a Python list literal", repr(value))
    return [str(option) for option in options]


def to_fields(record: dict) -> dict:
    question = text_value(record, "question")
    choices, numeric_rule = None, None
    if record["question_type"] == "multiple-choice":
        choices = parse_options(record["options"]) or None
        if choices:
            question = render_choices(question, choices)
        answer_type = "choice"
    elif record["question_type"] == "open":
        answer_type = number_or_text(str(record["answer"] or ""))
        numeric_rule = "mmmu" if answer_type == "number" else None
    else:
        raise BadRow("question_type", "unknown question type", repr(record["question_type"]))
    images = {n: record.get(column) for n, column in enumerate(IMAGE_COLUMNS, start=1)}
    question, ordered, image_fields = numbered_placeholders(question, images, lambda number: f"image_{number}")
    extra = text_ids(record, {name: name for name in (*_ID_COLUMNS, "question_type")})
    return row_fields(question, ordered, image_fields, record["answer"], answer_type, choices, extra, numeric_rule)


SPEC = DatasetSpec(
    name="mmmu",
    hub_id="MMMU/MMMU",
    splits=("validation", "dev", "test"),
    columns=frozenset({"question", "options", "answer", "question_type"}),
    optional_columns=frozenset({*_ID_COLUMNS, *IMAGE_COLUMNS}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "options"},
    id_column="id",
)
