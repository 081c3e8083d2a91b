"""lscpku/LogicVista: question (options inline), answer = letter(s), possibly several ("A, C"), image."""

from data_prep.converters.common import DatasetSpec, inline_choice_fields, text_ids

_ID_COLUMNS = ("id", "skill", "broad_capability", "specific_capability")


def to_fields(record: dict) -> dict:
    return inline_choice_fields(record, text_ids(record, {name: name for name in _ID_COLUMNS}))


SPEC = DatasetSpec(
    name="logicvista",
    hub_id="lscpku/LogicVista",
    splits=("test",),
    columns=frozenset({"question", "answer", "image"}),
    optional_columns=frozenset(_ID_COLUMNS),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="id",
)
