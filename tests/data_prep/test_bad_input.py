"""Bad source input through the CLI: a clear error naming the row and the source field (and no output
file), or with --skip-bad a counted summary; awkward image modes and huge images are converted."""

import copy
import os

import pytest
import data_prep_fixtures as fx

from data_prep.__main__ import main


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
    return code, output


VIRL_COLUMNS = {"question": fx.STRING, "answer": fx.STRING, "category": fx.STRING, "source": fx.STRING, "qid": fx.STRING, "image": fx.SEQ_STRING}
VIRL_RECORD = {"question": "<image>x?", "answer": "\\boxed{1}", "category": "c", "source": "s", "qid": "q9",
               "image": ["nowhere/missing.png"]}
MMMU_GOOD = fx.mmmu_record("v_1", "Legs? <image 1>", "[]", "8", "open", {1: fx.png()})

BAD_ROWS = {
    "corrupt image bytes": ("mathvista", *_first("mathvista", decoded_image={"bytes": b"\x89PNG broken", "path": None}),
                            "mathvista row 1 (pid='1'): field 'decoded_image': corrupt image bytes"),
    "missing image": ("chartqa", *_first("chartqa", image=None), "chartqa row 1: field 'image': missing image"),
    "missing image file": ("virl39k", VIRL_COLUMNS, {**VIRL_RECORD, "qid": "q1", "image": ["ok.png"]}, VIRL_RECORD,
                           "virl39k row 1 (qid='q9'): field 'image[0]': image file not found"),
    "placeholder count": ("mmrl30k", *_first("mmrl30k", problem="<image><image>Two?"),
                          "mmrl30k row 1: field 'problem': placeholder/image count mismatch (2 <image>, 1 images)"),
    "empty question": ("mathverse", *_first("mathverse", question="  "),
                       "mathverse row 1 (sample_index='1'): field 'question': empty question text"),
    "missing answer": ("wemath", *_first("wemath", answer=None),
                       "wemath row 1 (ID='3steps_12'): field 'answer': missing answer"),
    "empty label": ("chartqa", *_first("chartqa", label=[]), "chartqa row 1: field 'label': missing answer"),
    "answer not a choice": ("mathvista", *_first("mathvista", answer="purple"),
                            "field 'answer': answer is not one of the choices ('purple' not in ['red', 'blue', 'green'])"),
    "unreadable options": ("wemath", *_first("wemath", option="twelve or so"), "field 'option': cannot read the options"),
    "letter beyond choices": ("mmstar", *_first("mmstar", answer="F"),
                              "mmstar row 1 (index=0): field 'answer': option letter beyond the choices"),
    "not a letter": ("logicvista", *_first("logicvista", answer="the circle"), "field 'answer': not an option letter"),
    "hallusion 1/0": ("hallusionbench", fx.HALLUSION_COLUMNS, fx.hallusion_record("1", "1", fx.png(), "1"),
                      fx.hallusion_record("2", "1", fx.png(), "yes"), "hallusionbench row 1 (question_id='2'): field 'gt_answer': not 1/0"),
    "mmmu options": ("mmmu", fx.MMMU_COLUMNS, MMMU_GOOD, fx.mmmu_record("v_2", "Q <image 1>", "['a', 'b'", "A", "multiple-choice",
                                                                   {1: fx.png()}), "field 'options': not a Python list literal"),
    "mmmu image": ("mmmu", fx.MMMU_COLUMNS, MMMU_GOOD, fx.mmmu_record("v_3", "<image 1> vs <image 2>", "[]", "x", "open", {1: fx.png()}),
                   "mmmu row 1 (id='v_3'): field 'image_2': missing image (referenced by <image 2>)"),
    "mathvision image": ("mathvision", *_first("mathvision", decoded_image=None), "field 'decoded_image': missing image"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_row_stops_with_row_and_field(tmp_path, capsys, case):
    name, columns, good, bad, message = BAD_ROWS[case]
    (tmp_path / "ok.png").write_bytes(fx.image_in_mode("L"))  # the good ViRL39K row's image, next to the source
    code, output = _run(tmp_path, name, columns, [good, bad])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not os.path.exists(output)
    assert os.listdir(os.path.dirname(output)) == []  # no temporary file left behind


def test_skip_bad_counts_and_reports(tmp_path, capsys):
    columns, good, _ = _first("mathvista")
    corrupt = {**good, "pid": "c1", "decoded_image": {"bytes": b"junk", "path": None}}
    records = [good, corrupt, {**good, "decoded_image": None}, {**good, "pid": "ok2"}, {**good, "answer": "nope"},
               {**corrupt, "pid": "c2"}]
    code, output = _run(tmp_path, "mathvista", columns, records, "--skip-bad")
    assert code == 0
    out = capsys.readouterr().out
    assert "[mathvista] wrote 2 of 6 rows" in out
    assert "skipped 4 bad rows:" in out
    assert "2 × field 'decoded_image': corrupt image bytes" in out
    assert "1 × field 'decoded_image': missing image" in out
    assert "1 × field 'answer': answer is not one of the choices" in out
    rows = fx.decode_rows(output)
    assert [(row["extra_info"]["index"], row["extra_info"]["pid"]) for row in rows] == [(0, "1"), (3, "ok2")]


def test_unknown_and_missing_columns(tmp_path, capsys):
    columns, good, _ = _first("chartqa")
    code, _ = _run(tmp_path, "chartqa", {**columns, "notes": fx.STRING}, [{**good, "notes": "x"}])
    assert code == 1
    assert "unknown columns ['notes']" in capsys.readouterr().err
    code, output = _run(tmp_path, "chartqa", {**columns, "notes": fx.STRING}, [{**good, "notes": "x"}], "--allow-extra-columns")
    assert code == 0 and len(fx.decode_rows(output)) == 1
    reduced = {key: value for key, value in columns.items() if key != "label"}
    code, _ = _run(tmp_path, "chartqa", reduced, [{key: good[key] for key in reduced}])
    assert code == 1
    assert "source lacks columns ['label']" in capsys.readouterr().err


def test_awkward_image_modes_convert_to_rgb(tmp_path):
    columns, good, _ = _first("chartqa")
    modes = ["CMYK", "P", "P_transparent", "RGBA", "I;16", "L"]
    records = [{**good, "image": {"bytes": fx.image_in_mode(mode), "path": None}} for mode in modes]
    code, output = _run(tmp_path, "chartqa", columns, records)
    assert code == 0
    rows = fx.decode_rows(output)
    assert [fx.row_image(row).mode for row in rows] == ["RGB"] * len(modes)
    assert fx.row_image(rows[3]).getpixel((0, 0)) == (255, 255, 255)  # transparent RGBA on white


def test_huge_images_are_capped_keeping_aspect(tmp_path):
    columns, good, _ = _first("chartqa")
    code, output = _run(tmp_path, "chartqa", columns, [{**good, "image": fx.png(size=(200, 100))}], "--max-pixels", "1000")
    assert code == 0
    assert fx.row_image(fx.decode_rows(output)[0]).size == (44, 22)  # s = sqrt(1000 / 20000) = 0.2236
    code, output = _run(tmp_path, "chartqa", columns, [{**good, "image": fx.png(size=(200, 100))}], "--max-pixels", "0")
    assert fx.row_image(fx.decode_rows(output)[0]).size == (200, 100)


def test_limit_converts_only_the_first_rows(tmp_path):
    columns, good, _ = _first("chartqa")
    code, output = _run(tmp_path, "chartqa", columns, [good] * 5, "--limit", "2")
    assert code == 0 and len(fx.decode_rows(output)) == 2


def test_ctrl_c_during_conversion_leaves_no_output(tmp_path, capsys, monkeypatch):
    import data_prep.convert

    columns, good, _ = _first("chartqa")
    calls = []

    def interrupt_on_third_row(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_build_row(*args, **kwargs)

    real_build_row = data_prep.convert.build_row
    monkeypatch.setattr(data_prep.convert, "build_row", interrupt_on_third_row)
    code, output = _run(tmp_path, "chartqa", columns, [good] * 5)
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert os.listdir(os.path.dirname(output)) == []
