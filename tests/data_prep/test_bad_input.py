"""Bad source rows through the CLI: a clear error naming the file, the row and the source field (and no
output file), or with --skip-bad a counted summary; wrong column types, rows missing a key and text
that is not UTF-8 are row problems like any other; awkward image modes, huge and extremely elongated
images are converted."""

import copy
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import data_prep_fixtures as fx
from PIL import Image

from data_prep.__main__ import main
from data_prep.images import MAX_ASPECT_RATIO


def _first(name: str, **changes) -> tuple[dict, dict, dict]:
    """(columns, a good record, the same record with ``changes``) from the dataset's converter case."""
    columns, records = fx.CASES[name][2], fx.CASES[name][3]
    bad = copy.deepcopy(records[0])
    bad.update(changes)
    return columns, records[0], bad


def _run(tmp_path, name, columns, records, *options):
    source = str(tmp_path / f"{name}-source.parquet")
    fx.dataset_from(columns, records).to_parquet(source)
    output = str(tmp_path / "out" / f"{name}.parquet")
    code = main([name, "--input", source, "--output", output, *options])
    return code, source, output


def _assert_stopped(capsys, code, output, message):
    assert code == 1
    assert message in capsys.readouterr().err
    assert not os.path.exists(output)
    assert not os.path.isdir(os.path.dirname(output)) or os.listdir(os.path.dirname(output)) == []  # no temporary file


VIRL_RECORD = fx.virl_record("q9", "<image>x?", "\\boxed{1}", ["nowhere/missing.png"])
MMMU_GOOD = fx.mmmu_record("v_1", "Legs? <image 1>", "[]", "8", "open", {1: fx.png()})

# case → (converter, columns, good record, bad record, the bad row's id in messages, source field, reason)
BAD_ROWS = {
    "corrupt image bytes": ("mathvista", *_first("mathvista", decoded_image={"bytes": b"\x89PNG broken", "path": None}),
                            " (pid='1')", "decoded_image", "corrupt image bytes"),
    "missing image": ("chartqa", *_first("chartqa", image=None), "", "image", "missing image"),
    "missing image file": ("virl39k", fx.VIRL_COLUMNS, {**VIRL_RECORD, "qid": "q1", "image": ["ok.png"]}, VIRL_RECORD,
                           " (qid='q9')", "image[0]", "image file not found"),
    "placeholder count": ("mmrl30k", *_first("mmrl30k", problem="<image><image>Two?"), "", "problem",
                          "placeholder/image count mismatch (2 <image>, 1 images)"),
    "empty question": ("mathverse", *_first("mathverse", question="  "), " (sample_index='1')", "question",
                       "empty question text"),
    "missing answer": ("wemath", *_first("wemath", answer=None), " (ID='3steps_12')", "answer", "missing answer"),
    "empty label": ("chartqa", *_first("chartqa", label=[]), "", "label", "missing answer"),
    "answer not a choice": ("mathvista", *_first("mathvista", answer="purple"), " (pid='1')", "answer",
                            "answer is not one of the choices ('purple' not in ['red', 'blue', 'green'])"),
    "unreadable options": ("wemath", *_first("wemath", option="twelve or so"), " (ID='3steps_12')", "option",
                           "cannot read the options"),
    "letter beyond choices": ("mmstar", *_first("mmstar", answer="F"), " (index=0)", "answer",
                              "option letter beyond the choices"),
    "not a letter": ("logicvista", *_first("logicvista", answer="the circle"), " (id='L1')", "answer",
                     "not an option letter"),
    "hallusion 1/0": ("hallusionbench", fx.HALLUSION_COLUMNS, fx.hallusion_record("1", "1", fx.png(), "1"),
                      fx.hallusion_record("2", "1", fx.png(), "yes"), " (question_id='2')", "gt_answer", "not 1/0"),
    "mmmu options": ("mmmu", fx.MMMU_COLUMNS, MMMU_GOOD, fx.mmmu_record("v_2", "Q <image 1>", "['a', 'b'", "A",
                                                                        "multiple-choice", {1: fx.png()}),
                     " (id='v_2')", "options", "not a Python list literal"),
    "mmmu image": ("mmmu", fx.MMMU_COLUMNS, MMMU_GOOD, fx.mmmu_record("v_3", "<image 1> vs <image 2>", "[]", "x", "open",
                                                                      {1: fx.png()}),
                   " (id='v_3')", "image_2", "missing image (referenced by <image 2>)"),
    "mathvision image": ("mathvision", *_first("mathvision", decoded_image=None), " (id='1')", "decoded_image",
                         "missing image"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_row_stops_naming_file_row_and_field(tmp_path, capsys, case):
    name, columns, good, bad, ident, field, reason = BAD_ROWS[case]
    (tmp_path / "ok.png").write_bytes(fx.image_in_mode("L"))  # the good ViRL39K row's image, next to the source
    code, source, output = _run(tmp_path, name, columns, [good, bad])
    _assert_stopped(capsys, code, output, f"{name} row 1{ident} in {source}: field {field!r}: {reason}")


# ---------------------------------------------------------------------------------------------------
# Wrong column types, rows missing a key, text that is not UTF-8: jsonl sources keep whatever JSON holds


def _jsonl(tmp_path, lines: list) -> str:
    """A jsonl source; a line given as bytes is written as is (for undecodable text)."""
    path = tmp_path / "source.jsonl"
    path.write_bytes(b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines))
    (tmp_path / "chart.png").write_bytes(fx.encode(Image.new("RGB", (8, 8), (1, 2, 3))))
    return str(path)


def _chart(**changes) -> dict:
    return {"image": "chart.png", "query": "Peak?", "label": ["3"], "human_or_machine": 0, **changes}


def _vista(**changes) -> dict:
    return {"pid": "7", "question": "How long?", "image": "x.jpg", "decoded_image": "chart.png", "choices": None,
            "unit": None, "precision": 1.0, "answer": "1.5", "question_type": "free_form", "answer_type": "float",
            "metadata": {"source": "s"}, "query": "q", **changes}


def _verse(**changes) -> dict:
    return {"sample_index": "1", "problem_index": "1", "problem_version": "Text Lite", "question": "Find x.",
            "image": "chart.png", "answer": "5", "question_type": "free-form", "metadata": {}, **changes}


# case → (converter, the second (bad) row as a jsonl line, the row's id in messages, source field, reason)
BAD_JSON_ROWS = {
    "int label": ("chartqa", _chart(label=5), "", "label", "not a list of strings (got int 5)"),
    "list of lists label": ("chartqa", _chart(label=[["3"]]), "", "label", "not a list of strings"),
    "int question": ("chartqa", _chart(query=12), "", "query", "not text (got int 12)"),
    "string choices": ("mathvista", _vista(question_type="multi_choice", choices="abc", answer="b"), " (pid='7')",
                       "choices", "not a list of strings (got str 'abc')"),
    "non-numeric precision": ("mathvista", _vista(precision="two"), " (pid='7')", "precision",
                              "not a number of decimal places ('two')"),
    "fractional precision": ("mathvista", _vista(precision=1.5), " (pid='7')", "precision", "not a number of decimal places"),
    "metadata not a struct": ("mathverse", _verse(metadata="plane geometry"), " (sample_index='1')", "metadata",
                              "not a struct"),
    "row missing a key": ("chartqa", {key: value for key, value in _chart().items() if key != "label"}, "", "label",
                          "column missing in this row (lacks ['label'])"),
    "lone surrogate": ("chartqa", b'{"image": "chart.png", "query": "Peak \\ud800?", "label": ["3"]}', "", "query",
                       "text is not valid UTF-8"),
    "non-UTF-8 bytes": ("chartqa", b'{"image": "chart.png", "query": "Peak \xff\xfe?", "label": ["3"]}', "", "query",
                        "text is not valid UTF-8"),
}
GOOD_JSON_ROW = {"chartqa": _chart(), "mathvista": _vista(), "mathverse": _verse()}


@pytest.mark.parametrize("case", sorted(BAD_JSON_ROWS))
def test_wrong_types_missing_keys_and_bad_text_are_bad_rows(tmp_path, capsys, case):
    name, line, ident, field, reason = BAD_JSON_ROWS[case]
    source = _jsonl(tmp_path, [GOOD_JSON_ROW[name], line])
    output = str(tmp_path / "out" / "x.parquet")
    code = main([name, "--input", source, "--output", output])
    _assert_stopped(capsys, code, output, f"{name} row 1{ident} in {source}: field {field!r}: {reason}")
    assert main([name, "--input", source, "--output", output, "--skip-bad"]) == 0
    assert f"1 × field {field!r}: {reason.split(' (')[0]}" in capsys.readouterr().out
    assert [row["extra_info"]["index"] for row in fx.decode_rows(output)] == [0]


def test_a_string_where_a_list_of_images_is_expected_is_one_image(tmp_path):
    (tmp_path / "a.png").write_bytes(fx.encode(Image.new("RGB", (6, 4), (9, 9, 9))))
    source = tmp_path / "source.jsonl"
    source.write_text(json.dumps({"problem": "<image>Area?", "answer": "4", "images": "a.png"}) + "\n")
    output = str(tmp_path / "out.parquet")
    assert main(["mmrl30k", "--input", str(source), "--output", output]) == 0
    (row,) = fx.decode_rows(output)
    assert len(row["images"]) == 1 and fx.row_image(row).size == (6, 4)


def test_parquet_text_that_is_not_utf8_is_a_bad_row(tmp_path, capsys):
    image = fx.png()
    queries = pa.array([b"Peak?", b"Pe\xffak?"], type=pa.binary()).view(pa.string())  # pyarrow does not validate views
    table = pa.table({"image": [image, image], "query": queries, "label": [["1"], ["2"]]})
    source = str(tmp_path / "source.parquet")
    pq.write_table(table, source)
    output = str(tmp_path / "out" / "x.parquet")
    code = main(["chartqa", "--input", source, "--output", output])
    _assert_stopped(capsys, code, output, f"chartqa row 1 in {source}: field 'query': text is not valid UTF-8")


def test_json_that_does_not_parse_names_the_file(tmp_path, capsys):
    source = tmp_path / "source.json"
    source.write_text("[{\"query\": ")
    assert main(["chartqa", "--input", str(source), "--output", str(tmp_path / "x.parquet")]) == 1
    assert f"{source}: not JSON" in capsys.readouterr().err


def test_several_files_name_the_file_and_its_row(tmp_path, capsys):
    columns, good, _ = _first("chartqa")
    for shard, records in enumerate([[good, good], [good, {**good, "image": None}]]):
        fx.dataset_from(columns, records).to_parquet(str(tmp_path / "data" / f"test-0000{shard}-of-00002.parquet"))
    output = str(tmp_path / "out" / "x.parquet")
    code = main(["chartqa", "--input", str(tmp_path), "--output", output])
    shard = tmp_path / "data" / "test-00001-of-00002.parquet"
    _assert_stopped(capsys, code, output, f"chartqa row 3 in {shard}, its row 1: field 'image': missing image")


def test_skip_bad_counts_and_reports(tmp_path, capsys):
    columns, good, _ = _first("mathvista")
    corrupt = {**good, "pid": "c1", "decoded_image": {"bytes": b"junk", "path": None}}
    records = [good, corrupt, {**good, "decoded_image": None}, {**good, "pid": "ok2"}, {**good, "answer": "nope"},
               {**corrupt, "pid": "c2"}]
    code, _, output = _run(tmp_path, "mathvista", columns, records, "--skip-bad")
    assert code == 0
    out = capsys.readouterr().out
    assert "[mathvista] wrote 2 of 6 rows" in out
    assert "skipped 4 bad rows:" in out
    assert "2 × field 'decoded_image': corrupt image bytes" in out
    assert "1 × field 'decoded_image': missing image" in out
    assert "1 × field 'answer': answer is not one of the choices" in out
    rows = fx.decode_rows(output)
    assert [(row["extra_info"]["index"], row["extra_info"]["pid"]) for row in rows] == [(0, "1"), (3, "ok2")]


# ---------------------------------------------------------------------------------------------------
# Columns: unread ones are reported and ignored (--strict-columns stops), missing ones stop


def test_columns_the_converter_does_not_read_are_reported_not_fatal(tmp_path, capsys):
    columns, good, _ = _first("chartqa")
    wider = {**columns, "notes": fx.STRING, "annotator": fx.STRING}
    code, _, output = _run(tmp_path, "chartqa", wider, [{**good, "notes": "x", "annotator": "y"}])
    assert code == 0 and len(fx.decode_rows(output)) == 1
    assert "[chartqa] columns not read (ignored): annotator, notes" in capsys.readouterr().out
    assert "notes" not in fx.decode_rows(output)[0]["extra_info"]


def test_strict_columns_stops_on_unread_columns(tmp_path, capsys):
    columns, good, _ = _first("chartqa")
    code, source, output = _run(tmp_path, "chartqa", {**columns, "notes": fx.STRING}, [{**good, "notes": "x"}],
                                "--strict-columns")
    _assert_stopped(capsys, code, output,
                    f"chartqa: {source} has columns the converter does not read: ['notes'] (--strict-columns)")


def test_allow_extra_columns_is_a_deprecated_no_op(tmp_path, capsys):
    columns, good, _ = _first("chartqa")
    code, _, output = _run(tmp_path, "chartqa", {**columns, "notes": fx.STRING}, [{**good, "notes": "x"}],
                           "--allow-extra-columns")
    assert code == 0 and "columns not read (ignored): notes" in capsys.readouterr().out


def test_a_missing_column_stops_naming_it(tmp_path, capsys):
    columns, good, _ = _first("chartqa")
    reduced = {key: value for key, value in columns.items() if key != "label"}
    code, source, output = _run(tmp_path, "chartqa", reduced, [{key: good[key] for key in reduced}])
    _assert_stopped(capsys, code, output, f"chartqa: {source} lacks columns ['label']")


# ---------------------------------------------------------------------------------------------------
# Images


def test_awkward_image_modes_convert_to_rgb(tmp_path):
    columns, good, _ = _first("chartqa")
    modes = ["CMYK", "P", "P_transparent", "RGBA", "I;16", "L"]
    records = [{**good, "image": {"bytes": fx.image_in_mode(mode), "path": None}} for mode in modes]
    code, _, output = _run(tmp_path, "chartqa", columns, records)
    assert code == 0
    rows = fx.decode_rows(output)
    assert [fx.row_image(row).mode for row in rows] == ["RGB"] * len(modes)
    assert fx.row_image(rows[3]).getpixel((0, 0)) == (255, 255, 255)  # transparent RGBA on white


def test_huge_images_are_capped_keeping_aspect(tmp_path):
    columns, good, _ = _first("chartqa")
    code, _, output = _run(tmp_path, "chartqa", columns, [{**good, "image": fx.png(size=(200, 100))}], "--max-pixels", "1000")
    assert code == 0
    assert fx.row_image(fx.decode_rows(output)[0]).size == (44, 22)  # s = sqrt(1000 / 20000) = 0.2236
    code, _, output = _run(tmp_path, "chartqa", columns, [{**good, "image": fx.png(size=(200, 100))}], "--max-pixels", "0")
    assert fx.row_image(fx.decode_rows(output)[0]).size == (200, 100)


@pytest.mark.parametrize("size, padded", [((4000, 2), (4000, 40)), ((3, 900), (9, 900))])
def test_too_elongated_images_are_padded_below_the_processors_limit(tmp_path, size, padded):
    columns, good, _ = _first("chartqa")
    strip = {"bytes": fx.encode(Image.new("RGB", size, (0, 0, 0))), "path": None}
    code, _, output = _run(tmp_path, "chartqa", columns, [{**good, "image": strip}])
    assert code == 0
    image = fx.row_image(fx.decode_rows(output)[0])
    assert image.size == padded and max(padded) < MAX_ASPECT_RATIO * min(padded)
    assert image.getpixel((0, 0)) == (255, 255, 255)  # white padding around the strip, which is kept whole
    assert image.getpixel((padded[0] // 2, padded[1] // 2)) == (0, 0, 0)


def test_limit_converts_only_the_first_rows(tmp_path):
    columns, good, _ = _first("chartqa")
    code, _, output = _run(tmp_path, "chartqa", columns, [good] * 5, "--limit", "2")
    assert code == 0 and len(fx.decode_rows(output)) == 2
