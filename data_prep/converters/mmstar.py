"""Lin-Chen/MMStar: question with options inline ("Options: A: …, B: …"), letter answer, image."""

from data_prep.converters.common import DatasetSpec, inline_choice_fields, text_ids


def to_fields(record: dict) -> dict:
    ids = {"source_index": "index", "category": "category", "l2_category": "l2_category"}
    return inline_choice_fields(record, text_ids(record, ids))


SPEC = DatasetSpec(
    name="mmstar",
    hub_id="Lin-Chen/MMStar",
    splits=("val",),
    columns=frozenset({"question", "image", "answer"}),
    optional_columns=frozenset({"index", "category", "l2_category"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="index",
)
