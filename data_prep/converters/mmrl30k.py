"""XenoZLH/MMRL30k, the paper's training set (EasyR1 layout): problem (with ``<image>``), answer, images."""

from data_prep.converters.common import DatasetSpec, free_form_fields, image_cells


def to_fields(record: dict) -> dict:
    return free_form_fields(record, "problem", image_cells(record["images"] or [], "images"))


SPEC = DatasetSpec(
    name="mmrl30k",
    hub_id="XenoZLH/MMRL30k",
    splits=("train", "k12_test"),
    columns=frozenset({"problem", "answer", "images"}),
    to_fields=to_fields,
    fields={"question": "problem", "ground_truth": "answer", "choices": "problem"},
)
