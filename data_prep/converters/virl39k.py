"""TIGER-Lab/ViRL39K: question (one ``<image>`` per image), answer in ``\\boxed{}``, image = relative paths.

Paths resolve against ``--image-dir`` (the unzipped images.zip; default: the source's directory).
"""

from data_prep.converters.common import DatasetSpec, choice_or_math, strip_boxed


def to_fields(record: dict) -> dict:
    answer = strip_boxed(record["answer"])
    answer_type, choices = choice_or_math(record["question"], answer)
    paths = record["image"]
    images = [paths] if isinstance(paths, str) else list(paths or [])
    return {
        "question": record["question"],
        "images": images,
        "image_fields": [f"image[{i}]" for i in range(len(images))],
        "ground_truth": answer,
        "answer_type": answer_type,
        "choices": choices,
        "extra": {"qid": str(record["qid"]), "category": record["category"], "source": record["source"]},
    }


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
