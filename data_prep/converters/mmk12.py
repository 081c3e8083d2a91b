"""FanqingM/MMK12: id, subject, image, question, answer (train free-form; test letters, options inline)."""

from data_prep.converters.common import DatasetSpec, free_form_fields


def to_fields(record: dict) -> dict:
    extra = {"id": str(record["id"]), "subject": record["subject"]}
    return free_form_fields(record["question"], record["answer"], record["image"], "image", extra)


SPEC = DatasetSpec(
    name="mmk12",
    hub_id="FanqingM/MMK12",
    splits=("train", "test"),
    columns=frozenset({"id", "subject", "image", "question", "answer"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="id",
    expects="id, subject, image: HF Image, question, answer",
)
