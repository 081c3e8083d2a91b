"""FanqingM/MMK12: id, subject, image, question, answer (train free-form; test letters, options inline)."""

from data_prep.converters.common import DatasetSpec, choice_or_math


def to_fields(record: dict) -> dict:
    answer = "" if record["answer"] is None else str(record["answer"])
    answer_type, choices = choice_or_math(record["question"], answer)
    return {
        "question": record["question"],
        "images": [record["image"]],
        "image_fields": ["image"],
        "ground_truth": answer,
        "answer_type": answer_type,
        "choices": choices,
        "extra": {"id": str(record["id"]), "subject": record["subject"]},
    }


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
