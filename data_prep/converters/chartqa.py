"""HuggingFaceM4/ChartQA: image, query, label (list; the first is the answer), human_or_machine.

Numeric answers are scored with ChartQA's relaxed accuracy (5 % relative tolerance)."""

from data_prep.converters.common import DatasetSpec, number_or_text, row_fields, string_list, text_ids, text_value
from data_prep.errors import BadRow


def to_fields(record: dict) -> dict:
    label = record["label"]
    labels = [label] if isinstance(label, str) else string_list(record, "label") or []  # one string is one label
    if not labels or not labels[0].strip():
        raise BadRow("label", "missing answer")
    answer = labels[0].strip()
    answer_type = number_or_text(answer)
    extra = text_ids(record, {"human_or_machine": "human_or_machine"})
    return row_fields(text_value(record, "query"), [record["image"]], ["image"], answer, answer_type, extra=extra,
                      numeric_rule="relaxed" if answer_type == "number" else None)


SPEC = DatasetSpec(
    name="chartqa",
    hub_id="HuggingFaceM4/ChartQA",
    splits=("test", "val", "train"),
    columns=frozenset({"image", "query", "label"}),
    optional_columns=frozenset({"human_or_machine"}),
    to_fields=to_fields,
    fields={"question": "query", "ground_truth": "label"},
)
