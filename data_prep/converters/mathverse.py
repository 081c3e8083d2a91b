"""AI4Math/MathVerse testmini: five versions of each problem; Vision-Only rows have an empty question
(the question is drawn in the image), which gets ``VISION_ONLY_QUESTION`` instead."""

from data_prep.converters.common import DatasetSpec, choice_or_math, row_fields, struct_value, text_ids, text_value
from data_prep.errors import BadRow

VISION_ONLY = "Vision Only"
VISION_ONLY_QUESTION = "Answer the question shown in the image."


def to_fields(record: dict) -> dict:
    question = text_value(record, "question").strip()
    if not question and record["problem_version"] == VISION_ONLY:
        question = VISION_ONLY_QUESTION
    answer = "" if record["answer"] is None else str(record["answer"])
    if record["question_type"] == "multi-choice":
        _, choices = choice_or_math(question, answer)
        answer_type = "choice"
    elif record["question_type"] == "free-form":
        answer_type, choices = "math", None
    else:
        raise BadRow("question_type", "unknown question type", repr(record["question_type"]))
    metadata = struct_value(record, "metadata")
    extra = {
        **text_ids(record, {"sample_index": "sample_index", "problem_index": "problem_index",
                            "problem_version": "problem_version", "question_type": "question_type"}),
        **text_ids(metadata, {"subject": "subject", "subfield": "subfield"}),
    }
    return row_fields(question, [record["image"]], ["image"], answer, answer_type, choices, extra)


SPEC = DatasetSpec(
    name="mathverse",
    hub_id="AI4Math/MathVerse",
    splits=("testmini",),
    columns=frozenset({"problem_version", "question", "image", "answer", "question_type"}),
    optional_columns=frozenset({"sample_index", "problem_index", "metadata"}),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "question"},
    id_column="sample_index",
)
