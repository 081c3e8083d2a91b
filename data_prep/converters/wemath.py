"""We-Math/We-Math testmini: options in one string ("A. …; B. …"), letter answers, image in ``image_path``."""

from data_prep.converters.common import DatasetSpec, row_fields, text_ids
from data_prep.errors import BadRow
from data_prep.rows import parse_inline_options, render_choices


def to_fields(record: dict) -> dict:
    choices = parse_inline_options(record["option"] or "")
    if not choices:
        raise BadRow("option", "cannot read the options", repr(record["option"]))
    extra = text_ids(record, {"ID": "ID", "key": "key", "knowledge_concept": "knowledge concept", "source_split": "split"})
    question = render_choices(record["question"] or "", choices)
    return row_fields(question, [record["image_path"]], ["image_path"], record["answer"], "choice", choices, extra)


SPEC = DatasetSpec(
    name="wemath",
    hub_id="We-Math/We-Math",
    splits=("testmini",),
    columns=frozenset({"ID", "split", "knowledge concept", "question", "option", "answer", "image_path", "key"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "option"},
    id_column="ID",
    expects='ID, split, knowledge concept, question, option ("A. ...; B. ..."), answer (letter), image_path: HF Image, key',
)
