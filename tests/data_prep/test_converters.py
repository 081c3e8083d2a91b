"""Every dataset: a fixture with its card's full column list and feature types, in each source form that
applies, converted and checked row by row against hand-written expectations; the card columns a
converter does not read are reported, not fatal."""

import os

import pytest
from data_prep_fixtures import (
    CASES,
    HALLUSION_COLUMNS,
    MMMU_COLUMNS,
    UNREAD,
    VIRL_COLUMNS,
    dataset_from,
    decode_rows,
    hallusion_record,
    mmmu_record,
    png,
    row_image,
    save_forms,
    virl_record,
)
from PIL import Image

from data_prep.convert import convert
from data_prep.converters import SPECS
from data_prep.rows import INSTRUCTION
from data_prep.sources import open_source

@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """{(name, form): (input path, split)} for every case, plus HallusionBench, MMMU and ViRL39K layouts."""
    root = tmp_path_factory.mktemp("sources")
    paths = {}
    for name, (split, forms, columns, records, _) in CASES.items():
        dataset = dataset_from(columns, records)
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
    dataset_from(HALLUSION_COLUMNS, [hallusion_record("1", "1", png(), "1"), hallusion_record("2", "1", png(), "0")]).to_parquet(
        str(folder / "data" / "image-00000-of-00001.parquet"))
    dataset_from(HALLUSION_COLUMNS, [hallusion_record("9", "0", None, "0")]).to_parquet(
        str(folder / "data" / "non_image-00000-of-00001.parquet"))
    paths[("hallusionbench", "hub")] = (str(folder), "image")
    paths[("hallusionbench", "hub_non_image")] = (str(folder), "non_image")
    # MMMU: one folder per subject (hub layout), validation and dev shards in each
    folder = root / "mmmu"
    red, green, blue = png(colour=(255, 0, 0)), png(colour=(0, 255, 0)), png(colour=(0, 0, 255))
    dataset_from(MMMU_COLUMNS, [
        mmmu_record("validation_Art_1", "Compare <image 2> with <image 1>. Which matches?", "['<image 3>', 'neither']", "A",
              "multiple-choice", {1: red, 2: green, 3: blue}),
    ]).to_parquet(str(folder / "Art" / "validation-00000-of-00001.parquet"))
    dataset_from(MMMU_COLUMNS, [
        mmmu_record("validation_Biology_1", "How many legs? <image 1>", "[]", "8", "open", {1: red}),
        mmmu_record("validation_Biology_2", "Name the organ.", "[]", "heart", "open", {1: green}),  # image never referenced
    ]).to_parquet(str(folder / "Biology" / "validation-00000-of-00001.parquet"))
    dataset_from(MMMU_COLUMNS, [mmmu_record("dev_Art_1", "dev <image 1>", "[]", "1", "open", {1: red})]).to_parquet(
        str(folder / "Art" / "dev-00000-of-00001.parquet"))
    paths[("mmmu", "hub")] = (str(folder), "validation")
    # ViRL39K: image paths relative to the unzipped images folder
    folder = root / "virl39k"
    for name, colour in (("a.png", (255, 0, 0)), ("b.png", (0, 0, 255))):
        (folder / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (10, 10), colour).save(folder / "images" / name)
    virl = dataset_from(VIRL_COLUMNS, [
        virl_record("q1", "<image>What is x?", "\\boxed{5}", ["images/a.png"]),
        virl_record("q2", "<image> or <image>: which is blue?\nA. left\nB. right", "\\boxed{B}",
                    ["images/a.png", "images/b.png"]),
    ])
    for form, path in save_forms(virl, str(folder), "train", ("parquet", "jsonl", "json")).items():
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
    assert set(SPECS) == set(CASES) | {"hallusionbench", "mmmu", "virl39k"} == set(UNREAD)


SOURCE_OF = {**{name: (name, case[1][0]) for name, case in CASES.items()}, "hallusionbench": ("hallusionbench", "hub"),
             "mmmu": ("mmmu", "hub"), "virl39k": ("virl39k", "parquet")}


@pytest.mark.parametrize("name", sorted(SOURCE_OF))
def test_card_columns_not_read_are_reported_and_the_rest_is_read(sources, tmp_path, name):
    summary, rows = _convert(sources, tmp_path, *SOURCE_OF[name])
    assert summary.unread == UNREAD[name] and rows
    assert SPECS[name].reads <= set(open_source(*sources[SOURCE_OF[name]]).columns)  # every read column is exercised
    report = summary.report(name, "out.parquet").splitlines()
    assert report[0] == (f"[{name}] columns not read (ignored): {', '.join(UNREAD[name])}" if UNREAD[name]
                         else f"[{name}] wrote {len(rows)} of {len(rows)} rows to out.parquet")


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
    assert legs["extra_info"]["numeric_rule"] == "mmmu" and art["extra_info"]["numeric_rule"] is None
    # an image the text never mentions is kept, in front
    assert organ["prompt"][0]["content"].startswith("<image>Name the organ.") and _colour(organ, 0) == (0, 255, 0)
    assert (organ["reward_model"]["ground_truth"], organ["extra_info"]["answer_type"]) == ("heart", "text")


@pytest.mark.parametrize("name", ["mmrl30k", "geo3k"])
def test_an_image_list_keeps_every_image_in_its_order(tmp_path, name):
    """The sources whose ``images`` column is a list (ViRL39K's paths and MMMU's image_k columns are tested above)."""
    split, _, columns, records, _ = CASES[name]
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    record = {**records[0], "images": [png(colour=colour) for colour in colours]}
    record["problem"] = "<image><image><image>" + record["problem"].replace("<image>", "")
    source = tmp_path / "source.parquet"
    dataset_from(columns, [record]).to_parquet(str(source))
    output = str(tmp_path / "out.parquet")
    convert(SPECS[name], open_source(str(source), split), split, output, progress=False)
    (row,) = decode_rows(output)
    assert row["prompt"][0]["content"].count("<image>") == 3
    assert [_colour(row, i) for i in range(len(row["images"]))] == colours


@pytest.mark.parametrize("form", ["parquet", "jsonl", "json"])
def test_virl39k_reads_relative_image_paths_and_strips_boxes(sources, tmp_path, form):
    path, _ = sources[("virl39k", form)]
    image_dir = os.path.dirname(path) if form == "parquet" else None  # explicit, and the default (source's folder)
    _, rows = _convert(sources, tmp_path, "virl39k", form, image_dir=image_dir)
    assert [row["reward_model"]["ground_truth"] for row in rows] == ["5", "B"]
    assert [row["extra_info"]["answer_type"] for row in rows] == ["math", "choice"]
    assert rows[1]["extra_info"]["choices"] == ["left", "right"]
    assert rows[1]["prompt"][0]["content"].startswith("<image> or <image>: which is blue?")
    assert [_colour(rows[1], 0), _colour(rows[1], 1)] == [(255, 0, 0), (0, 0, 255)]
    assert rows[0]["extra_info"]["qid"] == "q1"
