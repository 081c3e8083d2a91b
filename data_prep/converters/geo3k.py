"""hiyouga/geometry3k: images, problem (starts with ``<image>``), answer (the correct choice's value).

Trained as free-form math on the value, as EasyR1 does; the choice list and letter are kept in extra_info.
"""

from data_prep.converters.common import DatasetSpec, image_cells, row_fields, text_ids


def to_fields(record: dict) -> dict:
    extra = text_ids(record, {"id": "id", "choice_letter": "ground_truth"})
    images, image_fields = image_cells(list(record["images"] or []), "images")
    choices = record.get("choices") or None
    return row_fields(record["problem"], images, image_fields, record["answer"], "math", choices, extra)


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
