"""XenoZLH/MMRL30k, the paper's training set (EasyR1 layout): problem (with ``<image>``), answer, images."""

from data_prep.converters.common import DatasetSpec, choice_or_math, strip_boxed


def to_fields(record: dict) -> dict:
    answer = strip_boxed(record["answer"])
    answer_type, choices = choice_or_math(record["problem"], answer)
    images = list(record["images"] or [])
    return {
        "question": record["problem"],
        "images": images,
        "image_fields": [f"images[{i}]" for i in range(len(images))],
        "ground_truth": answer,
        "answer_type": answer_type,
        "choices": choices,
        "extra": {},
    }


SPEC = DatasetSpec(
    name="mmrl30k",
    hub_id="XenoZLH/MMRL30k",
    splits=("train", "k12_test"),
    columns=frozenset({"problem", "answer", "images"}),
    to_fields=to_fields,
    fields={"question": "problem", "ground_truth": "answer", "choices": "problem"},
    expects="problem (with <image>), answer (free-form or letter), images: list of HF Image",
)
