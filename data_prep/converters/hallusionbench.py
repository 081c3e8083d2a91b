"""lmms-lab/HallusionBench: yes/no questions, ``gt_answer`` "1"/"0"; the non_image split has no images."""

from data_prep.converters.common import DatasetSpec, row_fields, text_ids
from data_prep.errors import BadRow

_YES_NO = {"1": "yes", "0": "no"}
_IDS = {name: name for name in ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "filename")}


def to_fields(record: dict) -> dict:
    answer = _YES_NO.get(str(record["gt_answer"]).strip())
    if answer is None:
        raise BadRow("gt_answer", "not 1/0", repr(record["gt_answer"]))
    text_only = record["image"] is None and str(record.get("visual_input")) == "0"
    images, image_fields = ([], []) if text_only else ([record["image"]], ["image"])
    return row_fields(record["question"] or "", images, image_fields, answer, "yesno", extra=text_ids(record, _IDS))


SPEC = DatasetSpec(
    name="hallusionbench",
    hub_id="lmms-lab/HallusionBench",
    splits=("image", "non_image"),
    columns=frozenset(
        {"category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "question",
         "gt_answer_details", "gt_answer", "filename", "image"}
    ),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "gt_answer"},
    id_column="question_id",
    expects='category, subcategory, visual_input, set_id, figure_id, question_id, question, gt_answer ("1"/"0"), image',
)
