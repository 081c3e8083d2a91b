"""Every dataset: a fixture with the source's exact columns and feature types, in each source form that
applies, converted and checked row by row against hand-written expectations."""

import os

import datasets
import pytest
from data_prep_fixtures import IMAGE, IMAGES, STRING, decode_rows, png, row_image, save_forms
from PIL import Image

from data_prep.convert import convert
from data_prep.converters import SPECS
from data_prep.converters.mathverse import VISION_ONLY_QUESTION
from data_prep.rows import INSTRUCTION
from data_prep.sources import open_source

SEQ_STRING = datasets.Sequence(STRING)


def _dataset(columns: dict, records: list[dict]) -> datasets.Dataset:
    features = datasets.Features(columns)
    return datasets.Dataset.from_list(records, features=features)


def expect(gt, answer_type, question, images=1, choices=None, **extra):
    return {"gt": gt, "type": answer_type, "question": question, "images": images, "choices": choices, "extra": extra}


# name → (split, forms, columns, records, expected rows)
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
        {"images": IMAGES, "problem": STRING, "answer": STRING, "id": STRING, "choices": SEQ_STRING, "ground_truth": STRING},
        [{"images": [png()], "problem": "<image>Find x.", "answer": "12", "id": "7", "choices": ["6", "12", "18", "24"],
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
         "metadata": {"category": STRING, "context": STRING, "grade": STRING, "language": STRING, "skills": SEQ_STRING,
                      "source": STRING, "task": STRING},
         "query": STRING},
        [
            {"pid": "1", "question": "Which colour is the bar?", "image": "images/1.jpg", "decoded_image": png(),
             "choices": ["red", "blue", "green"], "unit": None, "precision": None, "answer": "blue",
             "question_type": "multi_choice", "answer_type": "text",
             "metadata": {"category": "general-vqa", "context": "bar chart", "grade": "daily life", "language": "english",
                          "skills": ["a"], "source": "ChartQA", "task": "figure question answering"}, "query": "q"},
            {"pid": "2", "question": "How long is it?", "image": "images/2.jpg", "decoded_image": png(), "choices": None,
             "unit": "cm", "precision": 2.0, "answer": "1.25", "question_type": "free_form", "answer_type": "float",
             "metadata": {"category": "math-targeted-vqa", "context": "c", "grade": "g", "language": "english",
                          "skills": ["b"], "source": "s", "task": "t"}, "query": "q"},
            {"pid": "3", "question": "How many?", "image": "images/3.jpg", "decoded_image": png(), "choices": None,
             "unit": None, "precision": None, "answer": "12", "question_type": "free_form", "answer_type": "integer",
             "metadata": {"category": "c", "context": "c", "grade": "g", "language": "english", "skills": [],
                          "source": "s", "task": "t"}, "query": "q"},
            {"pid": "4", "question": "List them.", "image": "images/4.jpg", "decoded_image": png(), "choices": None,
             "unit": "", "precision": None, "answer": "[1, 2]", "question_type": "free_form", "answer_type": "list",
             "metadata": {"category": "c", "context": "c", "grade": "g", "language": "english", "skills": [],
                          "source": "s", "task": "t"}, "query": "q"},
        ],
        [
            expect("B", "choice", "Which colour is the bar?\nChoices:\nA. red\nB. blue\nC. green", choices=["red", "blue", "green"],
                   pid="1", question_type="multi_choice", task="figure question answering", source="ChartQA"),
            expect("1.25", "number", "How long is it? (Unit: cm)", pid="2", precision=2, unit="cm", source_answer_type="float"),
            expect("12", "number", "How many?", pid="3", precision=None, source_answer_type="integer"),
            expect("[1, 2]", "text", "List them.", pid="4", unit=None),
        ],
    ),
    "wemath": (
        "testmini", ("hub", "disk_dict"),
        {"ID": STRING, "split": STRING, "knowledge concept": STRING, "question": STRING, "option": STRING, "answer": STRING,
         "image_path": IMAGE, "key": STRING},
        [{"ID": "3steps_12", "split": "testmini", "knowledge concept": "Area of rectangles", "question": "What is the area?",
          "option": "A. 12; B. 24 cm²; C. 36; D. No correct answer", "answer": "B", "image_path": png(), "key": "3steps_1"}],
        [expect("B", "choice", "What is the area?\nChoices:\nA. 12\nB. 24 cm²\nC. 36\nD. No correct answer",
                choices=["12", "24 cm²", "36", "No correct answer"], ID="3steps_12", key="3steps_1",
                knowledge_concept="Area of rectangles", source_split="testmini")],
    ),
    "chartqa": (
        "test", ("hub", "disk_dict", "parquet"),
        {"image": IMAGE, "query": STRING, "label": SEQ_STRING,
         "human_or_machine": datasets.ClassLabel(names=["human", "machine"])},
        [
            {"image": png(), "query": "What is the peak?", "label": ["12"], "human_or_machine": 0},
            {"image": png(), "query": "Which is larger?", "label": ["Asia", "asia"], "human_or_machine": 1},
            {"image": png(), "query": "Total?", "label": ["1,234"], "human_or_machine": 1},
        ],
        [
            expect("12", "number", "What is the peak?", human_or_machine="0"),
            expect("Asia", "text", "Which is larger?", human_or_machine="1"),
            expect("1234", "number", "Total?"),
        ],
    ),
    "logicvista": (
        "test", ("hub", "parquet"),
        {"question": STRING, "answer": STRING, "image": IMAGE, "id": STRING},
        [
            {"question": "Which comes next?\nA. circle\nB. square\nC. star", "answer": "b", "image": png(), "id": "L1"},
            {"question": "Which are even?\n(A) 2 (B) 3 (C) 4", "answer": "C, A", "image": png(), "id": "L2"},
        ],
        [
            expect("B", "choice", "Which comes next?\nA. circle\nB. square\nC. star", choices=["circle", "square", "star"], id="L1"),
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
        {"index": datasets.Value("int64"), "question": STRING, "image": IMAGE, "answer": STRING, "category": STRING,
         "l2_category": STRING},
        [{"index": 0, "question": "Which animal is shown?\nOptions: A: cat, B: dog, C: bird, D: fish", "image": png(),
          "answer": "B", "category": "coarse perception", "l2_category": "image scene and topic"}],
        [expect("B", "choice", "Which animal is shown?\nOptions: A: cat, B: dog, C: bird, D: fish",
                choices=["cat", "dog", "bird", "fish"], source_index="0", category="coarse perception")],
    ),
}

HALLUSION_COLUMNS = {name: STRING for name in ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id",
                                               "question", "gt_answer_details", "gt_answer", "filename")}
HALLUSION_COLUMNS["image"] = IMAGE


def _hallusion(question_id, visual_input, image, gt):
    return {"category": "VD", "subcategory": "chart", "visual_input": visual_input, "set_id": "0", "figure_id": "1",
            "question_id": question_id, "question": f"Is statement {question_id} true?", "gt_answer_details": "d",
            "gt_answer": gt, "filename": None if image is None else "f.png", "image": image}


MMMU_IMAGES = {f"image_{n}": IMAGE for n in range(1, 8)}
MMMU_COLUMNS = {"id": STRING, "question": STRING, "options": STRING, "explanation": STRING, **MMMU_IMAGES,
                "img_type": STRING, "answer": STRING, "topic_difficulty": STRING, "question_type": STRING, "subfield": STRING}


def _mmmu(identifier, question, options, answer, question_type, images):
    record = {"id": identifier, "question": question, "options": options, "explanation": "", "img_type": "['Photos']",
              "answer": answer, "topic_difficulty": "Easy", "question_type": question_type, "subfield": "Zoology"}
    record.update({f"image_{n}": images.get(n) for n in range(1, 8)})
    return record


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """{(name, form): (input path, split)} for every case, plus HallusionBench, MMMU and ViRL39K layouts."""
    root = tmp_path_factory.mktemp("sources")
    paths = {}
    for name, (split, forms, columns, records, _) in CASES.items():
        dataset = _dataset(columns, records)
        base = root / name
        hub_forms = tuple(form for form in forms if form != "readme")
        for form, path in save_forms(dataset, str(base), split, hub_forms).items():
            paths[(name, form)] = (path, split)
        if "readme" in forms:  # a hub folder whose file name is not the split: the README's configs say it
            folder = base / "readme"
            dataset.to_parquet(str(folder / "mmstar.parquet"))
            (folder / "README.md").write_text(
                "---\nconfigs:\n- config_name: val\n  data_files:\n  - split: val\n    path: mmstar.parquet\n---\n# MMStar\n"
            )
            paths[(name, "readme")] = (str(folder), split)
    # HallusionBench: both splits in one hub folder; "image" must not pick up "non_image"
    folder = root / "hallusionbench"
    _dataset(HALLUSION_COLUMNS, [_hallusion("1", "1", png(), "1"), _hallusion("2", "1", png(), "0")]).to_parquet(
        str(folder / "data" / "image-00000-of-00001.parquet"))
    _dataset(HALLUSION_COLUMNS, [_hallusion("9", "0", None, "0")]).to_parquet(
        str(folder / "data" / "non_image-00000-of-00001.parquet"))
    paths[("hallusionbench", "hub")] = (str(folder), "image")
    paths[("hallusionbench", "hub_non_image")] = (str(folder), "non_image")
    # MMMU: one folder per subject (hub layout), validation and dev shards in each
    folder = root / "mmmu"
    red, green, blue = png(colour=(255, 0, 0)), png(colour=(0, 255, 0)), png(colour=(0, 0, 255))
    _dataset(MMMU_COLUMNS, [
        _mmmu("validation_Art_1", "Compare <image 2> with <image 1>. Which matches?", "['<image 3>', 'neither']", "A",
              "multiple-choice", {1: red, 2: green, 3: blue}),
    ]).to_parquet(str(folder / "Art" / "validation-00000-of-00001.parquet"))
    _dataset(MMMU_COLUMNS, [
        _mmmu("validation_Biology_1", "How many legs? <image 1>", "[]", "8", "open", {1: red}),
        _mmmu("validation_Biology_2", "Name the organ.", "[]", "heart", "open", {1: green}),  # image never referenced
    ]).to_parquet(str(folder / "Biology" / "validation-00000-of-00001.parquet"))
    _dataset(MMMU_COLUMNS, [_mmmu("dev_Art_1", "dev <image 1>", "[]", "1", "open", {1: red})]).to_parquet(
        str(folder / "Art" / "dev-00000-of-00001.parquet"))
    paths[("mmmu", "hub")] = (str(folder), "validation")
    # ViRL39K: image paths relative to the unzipped images folder
    folder = root / "virl39k"
    for name, colour in (("a.png", (255, 0, 0)), ("b.png", (0, 0, 255))):
        (folder / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (10, 10), colour).save(folder / "images" / name)
    virl = _dataset(
        {"question": STRING, "answer": STRING, "category": STRING, "source": STRING, "qid": STRING, "image": SEQ_STRING},
        [
            {"question": "<image>What is x?", "answer": "\\boxed{5}", "category": "math", "source": "geo", "qid": "q1",
             "image": ["images/a.png"]},
            {"question": "<image> or <image>: which is blue?\nA. left\nB. right", "answer": "\\boxed{B}", "category": "sci",
             "source": "s", "qid": "q2", "image": ["images/a.png", "images/b.png"]},
        ],
    )
    for form, path in save_forms(virl, str(folder), "train", ("parquet", "jsonl")).items():
        paths[("virl39k", form)] = (path, "train")
    return paths


def _convert(sources, tmp_path, name, form, **kwargs):
    path, split = sources[(name, form)]
    output = str(tmp_path / f"{name}-{form}.parquet")
    summary = convert(SPECS[name], open_source(path, split), split, output, progress=False, **kwargs)
    return summary, decode_rows(output)


def _check_row(row, name, split, index, expected):
    assert row["data_source"] == name
    assert row["reward_model"] == {"style": "rule", "ground_truth": expected["gt"]}
    info = row["extra_info"]
    assert (info["split"], info["index"], info["answer_type"]) == (split, index, expected["type"])
    assert info["question"] == expected["question"]
    assert info["choices"] == expected["choices"]
    for key, value in expected["extra"].items():
        assert info[key] == value, key
    content = row["prompt"][0]["content"]
    assert content.count("<image>") == len(row["images"]) == expected["images"]
    assert content.endswith("\n" + INSTRUCTION)
    assert content[: -len(INSTRUCTION) - 1].replace("<image>", "").strip() == expected["question"]
    for position in range(len(row["images"])):
        assert row_image(row, position).mode == "RGB"


CASE_FORMS = [(name, form) for name, case in CASES.items() for form in case[1]]


@pytest.mark.parametrize("name, form", CASE_FORMS, ids=[f"{n}-{f}" for n, f in CASE_FORMS])
def test_dataset_converts_from_each_source_form(sources, tmp_path, name, form):
    split, _, _, _, expected_rows = CASES[name]
    summary, rows = _convert(sources, tmp_path, name, form)
    assert (summary.read, summary.written, dict(summary.skipped)) == (len(expected_rows), len(expected_rows), {})
    assert len(rows) == len(expected_rows)
    for index, (row, expected) in enumerate(zip(rows, expected_rows)):
        _check_row(row, name, split, index, expected)


def test_every_dataset_has_a_converter_test():
    assert set(SPECS) == set(CASES) | {"hallusionbench", "mmmu", "virl39k"}


def test_first_prompt_is_exact(sources, tmp_path):
    _, rows = _convert(sources, tmp_path, "mathvista", "hub")
    assert rows[0]["prompt"] == [{"role": "user", "content": (
        "<image>Which colour is the bar?\nChoices:\nA. red\nB. blue\nC. green\n" + INSTRUCTION)}]


def test_hallusionbench_splits_and_yes_no(sources, tmp_path):
    _, rows = _convert(sources, tmp_path, "hallusionbench", "hub")
    assert [row["reward_model"]["ground_truth"] for row in rows] == ["yes", "no"]
    assert [row["extra_info"]["question_id"] for row in rows] == ["1", "2"]  # not the non_image row
    assert all(row["extra_info"]["answer_type"] == "yesno" and len(row["images"]) == 1 for row in rows)
    _, rows = _convert(sources, tmp_path, "hallusionbench", "hub_non_image")
    assert len(rows) == 1 and rows[0]["images"] == [] and "<image>" not in rows[0]["prompt"][0]["content"]
    assert rows[0]["extra_info"]["split"] == "non_image"


def _colour(row, position):
    return row_image(row, position).getpixel((0, 0))


def test_mmmu_numbered_placeholders_follow_the_text_order(sources, tmp_path):
    _, rows = _convert(sources, tmp_path, "mmmu", "hub")
    assert [row["extra_info"]["id"] for row in rows] == ["validation_Art_1", "validation_Biology_1", "validation_Biology_2"]
    art, legs, organ = rows
    # "<image 2> … <image 1>" and the option "<image 3>": green, red, blue in that order
    assert art["extra_info"]["question"] == "Compare  with . Which matches?\nChoices:\nA. \nB. neither"
    assert art["prompt"][0]["content"].startswith("Compare <image> with <image>. Which matches?\nChoices:\nA. <image>\nB. neither")
    assert [_colour(art, i) for i in range(3)] == [(0, 255, 0), (255, 0, 0), (0, 0, 255)]
    assert art["extra_info"]["choices"] == ["<image 3>", "neither"]
    assert (art["reward_model"]["ground_truth"], art["extra_info"]["answer_type"]) == ("A", "choice")
    assert (legs["reward_model"]["ground_truth"], legs["extra_info"]["answer_type"]) == ("8", "number")
    # an image the text never mentions is kept, in front
    assert organ["prompt"][0]["content"].startswith("<image>Name the organ.") and _colour(organ, 0) == (0, 255, 0)
    assert (organ["reward_model"]["ground_truth"], organ["extra_info"]["answer_type"]) == ("heart", "text")


@pytest.mark.parametrize("form", ["parquet", "jsonl"])
def test_virl39k_reads_relative_image_paths_and_strips_boxes(sources, tmp_path, form):
    path, _ = sources[("virl39k", form)]
    image_dir = {"parquet": os.path.dirname(path), "jsonl": None}[form]  # explicit, and the default (source's folder)
    _, rows = _convert(sources, tmp_path, "virl39k", form, image_dir=image_dir)
    assert [row["reward_model"]["ground_truth"] for row in rows] == ["5", "B"]
    assert [row["extra_info"]["answer_type"] for row in rows] == ["math", "choice"]
    assert rows[1]["extra_info"]["choices"] == ["left", "right"]
    assert rows[1]["prompt"][0]["content"].startswith("<image> or <image>: which is blue?")
    assert [_colour(rows[1], 0), _colour(rows[1], 1)] == [(255, 0, 0), (0, 0, 255)]
    assert rows[0]["extra_info"]["qid"] == "q1"
