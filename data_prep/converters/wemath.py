"""We-Math/We-Math testmini: options in one string ("A. …; B. …"), letter answers, image in ``image_path``."""

from data_prep.converters.common import DatasetSpec, row_fields, text_ids, text_value
from data_prep.errors import BadRow
from data_prep.rows import parse_inline_options, render_choices

_IDS = {"ID": "ID", "key": "key", "knowledge_concept": "knowledge concept", "source_split": "split"}


def to_fields(record: dict) -> dict:
    choices = parse_inline_options(text_value(record, "option"))
    if not choices:
        raise BadRow("option", "cannot read the options", repr(record["option"]))
    question = render_choices(text_value(record, "question"), choices)
    return row_fields(question, [record["image_path"]], ["image_path"], record["answer"], "choice", choices,
                      text_ids(record, _IDS))


SPEC = DatasetSpec(
    name="wemath",
    hub_id="We-Math/We-Math",
    splits=("testmini",),
    columns=frozenset({"question", "option", "answer", "image_path"}),
    optional_columns=frozenset(_IDS.values()),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "option"},
    id_column="ID",
)
