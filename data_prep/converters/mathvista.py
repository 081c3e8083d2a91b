"""AI4Math/MathVista testmini: multiple-choice answers are the choice TEXT (converted to its letter);
free-form floats are compared at ``precision`` decimals; the image is ``decoded_image``."""

from data_prep.converters.common import DatasetSpec, letter_of_choice, row_fields, text_ids
from data_prep.errors import BadRow
from data_prep.rows import render_choices

_FREE_FORM_TYPES = {"integer": "number", "float": "number", "text": "text", "list": "text"}
_METADATA_KEYS = ("category", "task", "context", "grade", "source", "language")


def to_fields(record: dict) -> dict:
    question = (record["question"] or "").strip()
    if record.get("unit"):
        question += f" (Unit: {record['unit']})"
    choices, precision = None, None
    if record["question_type"] == "multi_choice":
        if not record["choices"]:
            raise BadRow("choices", "multiple-choice question without choices")
        choices = [str(choice) for choice in record["choices"]]
        question = render_choices(question, choices)
        answer, answer_type = letter_of_choice(record["answer"], choices, "answer"), "choice"
    elif record["answer_type"] in _FREE_FORM_TYPES:
        answer, answer_type = record["answer"], _FREE_FORM_TYPES[record["answer_type"]]
        if record["answer_type"] == "float" and record.get("precision") is not None:
            precision = int(float(record["precision"]))
    else:
        raise BadRow("answer_type", "unknown answer type", repr(record["answer_type"]))
    metadata = record.get("metadata") or {}
    extra = {
        "pid": str(record["pid"]),
        "question_type": record["question_type"],
        "source_answer_type": record["answer_type"],
        "unit": record.get("unit") or None,
        "precision": precision,
        **text_ids(metadata, {key: key for key in _METADATA_KEYS}),
    }
    return row_fields(question, [record["decoded_image"]], ["decoded_image"], answer, answer_type, choices, extra)


SPEC = DatasetSpec(
    name="mathvista",
    hub_id="AI4Math/MathVista",
    splits=("testmini", "test"),
    columns=frozenset(
        {"pid", "question", "image", "decoded_image", "choices", "unit", "precision", "answer", "question_type",
         "answer_type", "metadata", "query"}
    ),
    to_fields=to_fields,
    fields={"question": "question", "ground_truth": "answer", "choices": "choices"},
    id_column="pid",
    expects="pid, question, image, decoded_image: HF Image, choices, unit, precision, answer (choice text), "
    "question_type, answer_type, metadata, query",
)
