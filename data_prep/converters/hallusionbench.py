"""lmms-lab/HallusionBench: yes/no questions, ``gt_answer`` "1"/"0"; the non_image split has no images."""

from data_prep.converters.common import DatasetSpec, row_fields, text_ids, text_value
from data_prep.errors import BadRow

_YES_NO = {"1": "yes", "0": "no"}
_ID_COLUMNS = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "filename")


def to_fields(record: dict) -> dict:
    answer = _YES_NO.get(str(record["gt_answer"]).strip())
    if answer is None:
        raise BadRow("gt_answer", "not 1/0", repr(record["gt_answer"]))
    text_only = record["image"] is None and str(record.get("visual_input")) == "0"
    images, image_fields = ([], []) if text_only else ([record["image"]], ["image"])
    extra = text_ids(record, {name: name for name in _ID_COLUMNS})
    return row_fields(text_value(record, "question"), images, image_fields, answer, "yesno", extra=extra)


SPEC = DatasetSpec(
    name="hallusionbench",
    hub_id="lmms-lab/HallusionBench",
    splits=("image", "non_image"),
    columns=frozenset({"question", "gt_answer", "image"}),
    optional_columns=frozenset(_ID_COLUMNS),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "gt_answer"},
    id_column="question_id",
)
