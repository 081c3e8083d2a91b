"""TIGER-Lab/ViRL39K: question (one ``<image>`` per image), answer in ``\\boxed{}``, image = relative paths.

Paths resolve against ``--image-dir`` (the unzipped images.zip; default: the source's directory).
"""

from data_prep.converters.common import DatasetSpec, free_form_fields, image_cells, text_ids


def to_fields(record: dict) -> dict:
    extra = text_ids(record, {"qid": "qid", "category": "category", "source": "source"})
    return free_form_fields(record, "question", image_cells(record["image"] or [], "image"), extra)


SPEC = DatasetSpec(
    name="virl39k",
    hub_id="TIGER-Lab/ViRL39K",
    splits=("train",),
    columns=frozenset({"question", "answer", "image"}),
    optional_columns=frozenset({"qid", "category", "source"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="qid",
    needs_image_dir=True,
)
