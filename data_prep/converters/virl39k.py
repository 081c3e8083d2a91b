"""TIGER-Lab/ViRL39K: question (one ``<image>`` per image), answer in ``\\boxed{}``, image = relative paths.

Paths resolve against ``--image-dir`` (the unzipped images.zip; default: the source's directory).
"""

from data_prep.converters.common import DatasetSpec, free_form_fields


def to_fields(record: dict) -> dict:
    paths = record["image"]
    paths = [paths] if isinstance(paths, str) else list(paths or [])
    extra = {"qid": str(record["qid"]), "category": record["category"], "source": record["source"]}
    return free_form_fields(record["question"], record["answer"], paths, "image", extra)


SPEC = DatasetSpec(
    name="virl39k",
    hub_id="TIGER-Lab/ViRL39K",
    splits=("train",),
    columns=frozenset({"question", "answer", "category", "source", "qid", "image"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="qid",
    needs_image_dir=True,
    expects="question (with <image>), answer (\\boxed{...}), category, source, qid, image: list of paths; --image-dir",
)
