"""HuggingFaceM4/ChartQA: image, query, label (list; the first is the answer), human_or_machine."""

from data_prep.converters.common import DatasetSpec, number_or_text, row_fields, text_ids
from data_prep.errors import BadRow


def to_fields(record: dict) -> dict:
    labels = record["label"]
    if isinstance(labels, str):
        labels = [labels]
    if not labels or labels[0] is None or not str(labels[0]).strip():
        raise BadRow("label", "missing answer")
    answer = str(labels[0]).strip()
    extra = text_ids(record, {"human_or_machine": "human_or_machine"})
    return row_fields(record["query"] or "", [record["image"]], ["image"], answer, number_or_text(answer), extra=extra)


SPEC = DatasetSpec(
    name="chartqa",
    hub_id="HuggingFaceM4/ChartQA",
    splits=("test", "val", "train"),
    columns=frozenset({"image", "query", "label", "human_or_machine"}),
    to_fields=to_fields,
    fields={"question": "query", "ground_truth": "label"},
    expects="image: HF Image, query, label: list[str] (first = answer), human_or_machine",
)
