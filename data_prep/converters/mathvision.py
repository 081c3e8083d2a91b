"""MathLLMs/MathVision: ``<image1>`` in the question refers to ``decoded_image``; options list (empty
for free-form questions, then the answer is a value)."""

from data_prep.converters.common import DatasetSpec, numbered_placeholders, row_fields, text_ids
from data_prep.rows import render_choices


def to_fields(record: dict) -> dict:
    choices = [str(option) for option in record["options"] or []] or None
    question = record["question"] or ""
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
    columns=frozenset({"id", "question", "options", "image", "decoded_image", "answer", "solution", "level", "subject"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "options"},
    id_column="id",
    expects="id, question (<image1>), options: list[str], decoded_image: HF Image, answer, solution, level, subject",
)
