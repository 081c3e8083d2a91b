"""lscpku/LogicVista: question (options inline), answer = letter(s), possibly several ("A, C"), image."""

from data_prep.converters.common import DatasetSpec, text_ids
from data_prep.rows import parse_inline_options

_ID_COLUMNS = ("id", "question_id", "imagename", "skill")


def to_fields(record: dict) -> dict:
    return {
        "question": record["question"] or "",
        "images": [record["image"]],
        "image_fields": ["image"],
        "ground_truth": record["answer"],
        "answer_type": "choice",
        "choices": parse_inline_options(record["question"] or ""),
        "extra": text_ids(record, {name: name for name in _ID_COLUMNS}),
    }


SPEC = DatasetSpec(
    name="logicvista",
    hub_id="lscpku/LogicVista",
    splits=("test",),
    columns=frozenset({"question", "answer", "image"}),
    optional_columns=frozenset(_ID_COLUMNS),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="id",
    expects="question (options inline), answer (letters), image: HF Image; optional id, question_id, imagename, skill",
)
