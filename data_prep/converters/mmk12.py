"""FanqingM/MMK12: id, subject, image, question, answer (train free-form; test letters, options inline)."""

from data_prep.converters.common import DatasetSpec, free_form_fields, image_cells, text_ids


def to_fields(record: dict) -> dict:
    extra = text_ids(record, {"id": "id", "subject": "subject"})
    return free_form_fields(record, "question", image_cells(record["image"], "image"), extra)


SPEC = DatasetSpec(
    name="mmk12",
    hub_id="FanqingM/MMK12",
    splits=("train", "test"),
    columns=frozenset({"question", "answer", "image"}),
    optional_columns=frozenset({"id", "subject"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="id",
)
