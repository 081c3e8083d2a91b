"""Fixture builders for the data_prep tests: images in every awkward mode, source datasets in every
accepted form (nothing is downloaded)."""

from __future__ import annotations

import io
import json
import os

import datasets
import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from data_prep.converters.mathverse import VISION_ONLY_QUESTION

IMAGE = datasets.Image()
IMAGES = datasets.Sequence(datasets.Image())
STRING = datasets.Value("string")
INT = datasets.Value("int64")
FLOAT = datasets.Value("float64")
SEQ_STRING = datasets.Sequence(STRING)


def encode(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def png(size=(32, 24), colour=(200, 30, 30), mode="RGB") -> dict:
    """An HF Image cell ({bytes, path}) holding a solid-colour PNG."""
    return {"bytes": encode(Image.new(mode, size, colour if mode == "RGB" else 0)), "path": None}


def decode_rows(path: str) -> list[dict]:
    return pq.read_table(path).to_pylist()


def row_image(row: dict, position: int = 0) -> Image.Image:
    image = Image.open(io.BytesIO(row["images"][position]["bytes"]))
    image.load()
    return image


def save_forms(dataset: datasets.Dataset, root: str, split: str, forms: tuple[str, ...]) -> dict[str, str]:
    """Write ``dataset`` as each accepted source form; returns {form: path to pass as --input}.

    disk_dict: save_to_disk of a DatasetDict {split, "other"}; disk: save_to_disk of the Dataset;
    hub: a hub-download folder with ``data/{split}-00000-of-00001.parquet`` next to another split;
    parquet / jsonl / json: a single file.
    """
    paths = {}
    for form in forms:
        target = os.path.join(root, form)
        if form == "disk_dict":
            datasets.DatasetDict({split: dataset, "other": dataset.select([0])}).save_to_disk(target)
        elif form == "disk":
            dataset.save_to_disk(target)
        elif form == "hub":
            dataset.to_parquet(os.path.join(target, "data", f"{split}-00000-of-00001.parquet"))
            dataset.select([0]).to_parquet(os.path.join(target, "data", f"other_{split}-00000-of-00001.parquet"))
        elif form == "parquet":
            target += ".parquet"
            dataset.to_parquet(target)
        elif form in ("jsonl", "json"):
            target += f".{form}"
            records = dataset.to_list()
            with open(target, "w", encoding="utf-8") as handle:
                if form == "jsonl":
                    handle.writelines(json.dumps(record) + "\n" for record in records)
                else:
                    json.dump(records, handle)
        else:
            raise ValueError(form)
        paths[form] = target
    return paths


def image_in_mode(mode: str, size=(16, 12)) -> bytes:
    """PNG/TIFF/JPEG bytes of an image in ``mode`` whose expected RGB rendering is documented per mode."""
    if mode == "CMYK":
        return encode(Image.new("CMYK", size, (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    if mode == "P":
        image = Image.new("P", size, 1)
        image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
        return encode(image)
    if mode == "P_transparent":
        image = Image.new("P", size, 0)
        image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
        image.info["transparency"] = 0
        return encode(image)
    if mode == "RGBA":
        return encode(Image.new("RGBA", size, (0, 0, 0, 0)))  # fully transparent black
    if mode == "I;16":
        return encode(Image.fromarray(np.full(size[::-1], 65535, dtype=np.uint16)))
    if mode == "L":
        return encode(Image.new("L", size, 77))
    raise ValueError(mode)


# ---------------------------------------------------------------------------------------------------
# Every dataset: the source's FULL column list and types as its card gives them (docs/data.md
# lists where each was checked), a few records, and the rows they must become


def logicvista_record(identifier: str, question: str, answer: str) -> dict:
    return {"question": question, "answer": answer, "reasoning": "because", "image": png(), "skill": "inductive",
            "broad_capability": "diagram", "specific_capability": "patterns", "imagesource": "web",
            "sourcelink": "https://example.org", "liscenced": "yes", "id": identifier}


def dataset_from(columns: dict, records: list[dict]) -> datasets.Dataset:
    features = datasets.Features(columns)
    return datasets.Dataset.from_list(records, features=features)


def expect(gt, answer_type, question, images=1, choices=None, **extra):
    return {"gt": gt, "type": answer_type, "question": question, "images": images, "choices": choices, "extra": extra}


# name → (split, source forms, columns with their HF feature types, records, expected rows)
CASES = {
    "mmrl30k": (
        "train", ("hub", "disk_dict", "parquet"),
        {"problem": STRING, "answer": STRING, "images": IMAGES},
        [
            {"problem": "<image>Find the area of the square.", "answer": "16", "images": [png()]},
            {"problem": "<image>Which is larger?\nA. 3\nB. 5", "answer": "B", "images": [png()]},
            {"problem": "<image>Left, <image>right: angle?", "answer": "\\boxed{30^\\circ}", "images": [png(), png()]},
        ],
        [
            expect("16", "math", "Find the area of the square."),
            expect("B", "choice", "Which is larger?\nA. 3\nB. 5", choices=["3", "5"]),
            expect("30^\\circ", "math", "Left, right: angle?", images=2),
        ],
    ),
    "geo3k": (
        "train", ("hub", "disk_dict"),
        {"images": IMAGES, "problem": STRING, "answer": STRING, "id": INT, "choices": SEQ_STRING, "ground_truth": STRING},
        [{"images": [png()], "problem": "<image>Find x.", "answer": "12", "id": 7, "choices": ["6", "12", "18", "24"],
          "ground_truth": "B"}],
        [expect("12", "math", "Find x.", choices=["6", "12", "18", "24"], id="7", choice_letter="B")],
    ),
    "mmk12": (
        "test", ("hub", "disk_dict", "parquet"),
        {"id": STRING, "subject": STRING, "image": IMAGE, "question": STRING, "answer": STRING},
        [
            {"id": "k1", "subject": "math", "image": png(), "question": "Simplify 6/8.", "answer": "3/4"},
            {"id": "k2", "subject": "physics", "image": png(), "question": "Which?\nA. 1\nB. 2\nC. 3\nD. 4", "answer": "C"},
        ],
        [
            expect("3/4", "math", "Simplify 6/8.", id="k1", subject="math"),
            expect("C", "choice", "Which?\nA. 1\nB. 2\nC. 3\nD. 4", choices=["1", "2", "3", "4"], id="k2", subject="physics"),
        ],
    ),
    "mathverse": (
        "testmini", ("hub", "disk_dict"),
        {"sample_index": STRING, "problem_index": STRING, "problem_version": STRING, "question": STRING, "image": IMAGE,
         "answer": STRING, "question_type": STRING,
         "metadata": {"split": STRING, "source": STRING, "subject": STRING, "subfield": STRING},
         "query_wo": STRING, "query_cot": STRING, "question_for_eval": STRING},
        [
            {"sample_index": "1", "problem_index": "1", "problem_version": "Text Dominant",
             "question": "Find the angle.\nChoices:\nA:30°\nB:60°", "image": png(), "answer": "B",
             "question_type": "multi-choice", "metadata": {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry",
                                                            "subfield": "Angle"},
             "query_wo": "q", "query_cot": "q", "question_for_eval": "q"},
            {"sample_index": "5", "problem_index": "1", "problem_version": "Vision Only", "question": "", "image": png(),
             "answer": "A", "question_type": "multi-choice",
             "metadata": {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"},
             "query_wo": "q", "query_cot": "q", "question_for_eval": "q"},
            {"sample_index": "6", "problem_index": "2", "problem_version": "Text Lite", "question": "Find the length.",
             "image": png(), "answer": "5", "question_type": "free-form",
             "metadata": {"split": "testmini", "source": "x", "subject": "Solid Geometry", "subfield": "Length"},
             "query_wo": "q", "query_cot": "q", "question_for_eval": "q"},
        ],
        [
            expect("B", "choice", "Find the angle.\nChoices:\nA:30°\nB:60°", choices=["30°", "60°"], sample_index="1",
                   problem_version="Text Dominant", subject="Plane Geometry", subfield="Angle"),
            expect("A", "choice", VISION_ONLY_QUESTION, sample_index="5", problem_version="Vision Only"),
            expect("5", "math", "Find the length.", problem_index="2", question_type="free-form"),
        ],
    ),
    "mathvista": (
        "testmini", ("hub", "disk_dict", "parquet"),
        {"pid": STRING, "question": STRING, "image": STRING, "decoded_image": IMAGE, "choices": SEQ_STRING, "unit": STRING,
         "precision": datasets.Value("float64"), "answer": STRING, "question_type": STRING, "answer_type": STRING,
         "metadata": {"category": STRING, "context": STRING, "grade": STRING, "img_height": INT, "img_width": INT,
                      "language": STRING, "skills": SEQ_STRING, "source": STRING, "split": STRING, "task": STRING},
         "query": STRING},
        [
            {"pid": "1", "question": "Which colour is the bar?", "image": "images/1.jpg", "decoded_image": png(),
             "choices": ["red", "blue", "green"], "unit": None, "precision": None, "answer": "blue",
             "question_type": "multi_choice", "answer_type": "text",
             "metadata": {"category": "general-vqa", "context": "bar chart", "grade": "daily life", "img_height": 24,
                          "img_width": 32, "language": "english", "skills": ["a"], "source": "ChartQA", "split": "testmini",
                          "task": "figure question answering"}, "query": "q"},
            {"pid": "2", "question": "How long is it?", "image": "images/2.jpg", "decoded_image": png(), "choices": None,
             "unit": "cm", "precision": 2.0, "answer": "1.25", "question_type": "free_form", "answer_type": "float",
             "metadata": {"category": "math-targeted-vqa", "context": "c", "grade": "g", "img_height": 24, "img_width": 32,
                          "language": "english", "skills": ["b"], "source": "s", "split": "testmini", "task": "t"},
             "query": "q"},
            {"pid": "3", "question": "How many?", "image": "images/3.jpg", "decoded_image": png(), "choices": None,
             "unit": None, "precision": None, "answer": "12", "question_type": "free_form", "answer_type": "integer",
             "metadata": {"category": "c", "context": "c", "grade": "g", "img_height": 24, "img_width": 32,
                          "language": "english", "skills": [], "source": "s", "split": "testmini", "task": "t"},
             "query": "q"},
            {"pid": "4", "question": "List them.", "image": "images/4.jpg", "decoded_image": png(), "choices": None,
             "unit": "", "precision": None, "answer": "[1, 2]", "question_type": "free_form", "answer_type": "list",
             "metadata": {"category": "c", "context": "c", "grade": "g", "img_height": 24, "img_width": 32,
                          "language": "english", "skills": [], "source": "s", "split": "testmini", "task": "t"},
             "query": "q"},
        ],
        [
            expect("B", "choice", "Which colour is the bar?\nChoices:\nA. red\nB. blue\nC. green", choices=["red", "blue", "green"],
                   pid="1", question_type="multi_choice", task="figure question answering", source="ChartQA"),
            expect("1.25", "number", "How long is it? (Unit: cm)", pid="2", precision=2, unit="cm", source_answer_type="float",
                   numeric_rule="precision"),
            expect("12", "number", "How many?", pid="3", precision=None, source_answer_type="integer", numeric_rule="exact"),
            expect("[1, 2]", "text", "List them.", pid="4", unit=None, numeric_rule=None),
        ],
    ),
    "wemath": (
        "testmini", ("hub", "disk_dict"),
        {"ID": STRING, "split": STRING, "knowledge concept": STRING, "question": STRING, "option": STRING, "answer": STRING,
         "image_path": IMAGE, "key": STRING, "question number": INT, "knowledge concept description": STRING},
        [{"ID": "3steps_12", "split": "testmini", "knowledge concept": "Area of rectangles", "question": "What is the area?",
          "option": "A. 12; B. 24 cm²; C. 36; D. No correct answer", "answer": "B", "image_path": png(), "key": "3steps_1",
          "question number": 12, "knowledge concept description": "Area = length × width"}],
        [expect("B", "choice", "What is the area?\nChoices:\nA. 12\nB. 24 cm²\nC. 36\nD. No correct answer",
                choices=["12", "24 cm²", "36", "No correct answer"], ID="3steps_12", key="3steps_1",
                knowledge_concept="Area of rectangles", source_split="testmini")],
    ),
    "chartqa": (
        "test", ("hub", "disk_dict", "disk", "parquet"),
        {"image": IMAGE, "query": STRING, "label": SEQ_STRING,
         "human_or_machine": datasets.ClassLabel(names=["human", "machine"])},
        [
            {"image": png(), "query": "What is the peak?", "label": ["12"], "human_or_machine": 0},
            {"image": png(), "query": "Which is larger?", "label": ["Asia", "asia"], "human_or_machine": 1},
            {"image": png(), "query": "Total?", "label": ["1,234"], "human_or_machine": 1},
        ],
        [
            expect("12", "number", "What is the peak?", human_or_machine="0", numeric_rule="relaxed"),
            expect("Asia", "text", "Which is larger?", human_or_machine="1", numeric_rule=None),
            expect("1234", "number", "Total?", numeric_rule="relaxed"),
        ],
    ),
    "logicvista": (
        "test", ("hub", "parquet"),
        {"question": STRING, "answer": STRING, "reasoning": STRING, "image": IMAGE, "skill": STRING, "broad_capability": STRING,
         "specific_capability": STRING, "imagesource": STRING, "sourcelink": STRING, "liscenced": STRING, "id": STRING},
        [
            logicvista_record("L1", "Which comes next?\nA. circle\nB. square\nC. star", "b"),
            logicvista_record("L2", "Which are even?\n(A) 2 (B) 3 (C) 4", "C, A"),
        ],
        [
            expect("B", "choice", "Which comes next?\nA. circle\nB. square\nC. star", choices=["circle", "square", "star"], id="L1",
                   skill="inductive", broad_capability="diagram", specific_capability="patterns"),
            expect("A, C", "choice", "Which are even?\n(A) 2 (B) 3 (C) 4", choices=["2", "3", "4"], id="L2"),
        ],
    ),
    "mathvision": (
        "testmini", ("hub", "parquet"),
        {"id": STRING, "question": STRING, "options": SEQ_STRING, "image": STRING, "decoded_image": IMAGE, "answer": STRING,
         "solution": STRING, "level": datasets.Value("int64"), "subject": STRING},
        [
            {"id": "1", "question": "<image1>\nWhat is the area?", "options": [], "image": "images/1.jpg",
             "decoded_image": png(), "answer": "12", "solution": "", "level": 2, "subject": "metric geometry - area"},
            {"id": "2", "question": "Which figure is shown?", "options": ["A", "B", "C", "D", "E"], "image": "images/2.jpg",
             "decoded_image": png(), "answer": "C", "solution": "", "level": 1, "subject": "logic"},
        ],
        [
            expect("12", "math", "What is the area?", id="1", level="2", subject="metric geometry - area"),
            expect("C", "choice", "Which figure is shown?\nChoices:\nA. A\nB. B\nC. C\nD. D\nE. E",
                   choices=["A", "B", "C", "D", "E"], id="2"),
        ],
    ),
    "mmstar": (
        "val", ("readme", "disk_dict", "parquet"),
        {"index": INT, "question": STRING, "image": IMAGE, "answer": STRING, "category": STRING, "l2_category": STRING,
         "meta_info": {"source": STRING, "split": STRING, "image_path": STRING}},
        [{"index": 0, "question": "Which animal is shown?\nOptions: A: cat, B: dog, C: bird, D: fish", "image": png(),
          "answer": "B", "category": "coarse perception", "l2_category": "image scene and topic",
          "meta_info": {"source": "MMBench", "split": "val", "image_path": "images/0.jpg"}}],
        [expect("B", "choice", "Which animal is shown?\nOptions: A: cat, B: dog, C: bird, D: fish",
                choices=["cat", "dog", "bird", "fish"], source_index="0", category="coarse perception")],
    ),
}

HALLUSION_COLUMNS = {name: STRING for name in ("category", "subcategory", "visual_input", "set_id", "figure_id", "sample_note",
                                               "question_id", "question", "gt_answer_details", "gt_answer", "filename")}
HALLUSION_COLUMNS["image"] = IMAGE


def hallusion_record(question_id, visual_input, image, gt):
    return {"category": "VD", "subcategory": "chart", "visual_input": visual_input, "set_id": "0", "figure_id": "1",
            "sample_note": "note", "question_id": question_id, "question": f"Is statement {question_id} true?", "gt_answer_details": "d",
            "gt_answer": gt, "filename": None if image is None else "f.png", "image": image}


MMMU_IMAGES = {f"image_{n}": IMAGE for n in range(1, 8)}
MMMU_COLUMNS = {"id": STRING, "question": STRING, "options": STRING, "explanation": STRING, **MMMU_IMAGES,
                "img_type": STRING, "answer": STRING, "topic_difficulty": STRING, "question_type": STRING, "subfield": STRING}


def mmmu_record(identifier, question, options, answer, question_type, images):
    record = {"id": identifier, "question": question, "options": options, "explanation": "", "img_type": "['Photos']",
              "answer": answer, "topic_difficulty": "Easy", "question_type": question_type, "subfield": "Zoology"}
    record.update({f"image_{n}": images.get(n) for n in range(1, 8)})
    return record


VIRL_COLUMNS = {"question": STRING, "answer": STRING, "PassRate_32BTrained": FLOAT, "PassRate_7BBase": FLOAT, "category": STRING,
                "source": STRING, "qid": STRING, "image": SEQ_STRING}


def virl_record(qid: str, question: str, answer: str, paths: list[str]) -> dict:
    return {"question": question, "answer": answer, "PassRate_32BTrained": 0.5, "PassRate_7BBase": 0.25, "category": "math",
            "source": "geo", "qid": qid, "image": paths}


# the card columns each converter does not read (reported, not fatal)
UNREAD = {
    "mmrl30k": [], "geo3k": [], "mmk12": [], "chartqa": [], "mathvision": ["image", "solution"],
    "mathverse": ["query_cot", "query_wo", "question_for_eval"], "mathvista": ["image", "query"],
    "wemath": ["knowledge concept description", "question number"], "mmstar": ["meta_info"],
    "logicvista": ["imagesource", "liscenced", "reasoning", "sourcelink"],
    "hallusionbench": ["gt_answer_details", "sample_note"], "mmmu": ["explanation"],
    "virl39k": ["PassRate_32BTrained", "PassRate_7BBase"],
}
