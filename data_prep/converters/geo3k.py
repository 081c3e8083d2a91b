"""hiyouga/geometry3k: images, problem (starts with ``<image>``), answer (the correct choice's value).

Trained as free-form math on the value, as EasyR1 does; the choice list and letter are kept in extra_info.
"""

from data_prep.converters.common import DatasetSpec, image_cells, row_fields, string_list, text_ids, text_value


def to_fields(record: dict) -> dict:
    extra = text_ids(record, {"id": "id", "choice_letter": "ground_truth"})
    images, image_fields = image_cells(record["images"] or [], "images")
    choices = string_list(record, "choices") or None
    return row_fields(text_value(record, "problem"), images, image_fields, record["answer"], "math", choices, extra)


SPEC = DatasetSpec(
    name="geo3k",
    hub_id="hiyouga/geometry3k",
    splits=("train", "validation", "test"),
    columns=frozenset({"images", "problem", "answer"}),
    optional_columns=frozenset({"id", "choices", "ground_truth"}),
    to_fields=to_fields,
    fields={"question": "problem", "ground_truth": "answer", "choices": "choices"},
    id_column="id",
)
