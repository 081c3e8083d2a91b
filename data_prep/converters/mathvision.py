"""MathLLMs/MathVision: ``<image1>`` in the question refers to ``decoded_image``; options list (empty
for free-form questions, then the answer is a value)."""

from data_prep.converters.common import (
    DatasetSpec,
    numbered_placeholders,
    row_fields,
    string_list,
    text_ids,
    text_value,
)
from data_prep.rows import render_choices


def to_fields(record: dict) -> dict:
    choices = string_list(record, "options") or None
    question = text_value(record, "question")
    if choices:
        question = render_choices(question, choices)
    question, images, image_fields = numbered_placeholders(
        question, {1: record["decoded_image"]}, lambda number: "decoded_image"
    )
    extra = text_ids(record, {"id": "id", "level": "level", "subject": "subject"})
    return row_fields(question, images, image_fields, record["answer"], "choice" if choices else "math", choices, extra)


SPEC = DatasetSpec(
    name="mathvision",
    hub_id="MathLLMs/MathVision",
    splits=("test", "testmini"),
    columns=frozenset({"question", "options", "decoded_image", "answer"}),
    optional_columns=frozenset({"id", "level", "subject"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "options"},
    id_column="id",
)
