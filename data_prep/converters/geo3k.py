"""hiyouga/geometry3k: images, problem (starts with ``<image>``), answer (the correct choice's value).

Trained as free-form math on the value, as EasyR1 does; the choice list and letter are kept in extra_info.
"""

from data_prep.converters.common import DatasetSpec


def to_fields(record: dict) -> dict:
    images = list(record["images"] or [])
    return {
        "question": record["problem"],
        "images": images,
        "image_fields": [f"images[{i}]" for i in range(len(images))],
        "ground_truth": record["answer"],
        "answer_type": "math",
        "choices": record.get("choices") or None,
        "extra": {
            "id": None if record.get("id") is None else str(record["id"]),
            "choice_letter": record.get("ground_truth"),
        },
    }


SPEC = DatasetSpec(
    name="geo3k",
    hub_id="hiyouga/geometry3k",
    splits=("train", "validation", "test"),
    columns=frozenset({"images", "problem", "answer"}),
    optional_columns=frozenset({"id", "choices", "ground_truth"}),
    to_fields=to_fields,
    fields={"question": "problem", "ground_truth": "answer", "choices": "choices"},
    id_column="id",
    expects="images: list of HF Image, problem (starts with <image>), answer (value); optional id, choices, ground_truth",
)
