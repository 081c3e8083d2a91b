"""The list / inspect / mix / synthetic commands."""

import sys
import types

import pyarrow.parquet as pq
from data_prep_fixtures import CASES, dataset_from, png

from data_prep.__main__ import main
from data_prep.converters import SPECS


def _prepare(tmp_path, name, records=None):
    split, _, columns, case_records, _ = CASES[name]
    source = str(tmp_path / f"{name}-source.parquet")
    dataset_from(columns, records or case_records).to_parquet(source)
    output = str(tmp_path / f"{name}.parquet")
    assert main([name, "--input", source, "--output", output, "--split", split]) == 0
    return output


def test_list_names_every_dataset_its_hub_id_and_splits(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for spec in SPECS.values():
        assert spec.name in out and spec.hub_id in out and ", ".join(spec.splits) in out
    assert "needs --image-dir" in out


def test_inspect_reports_counts_sizes_and_an_example(tmp_path, capsys):
    output = _prepare(tmp_path, "mathvista")
    capsys.readouterr()
    assert main(["inspect", output]) == 0
    out = capsys.readouterr().out
    assert f"{output}: 4 rows" in out
    assert "data_source: mathvista 4" in out
    assert "answer_type: choice 1, number 2, text 1" in out
    assert "images per row: 1: 4 rows" in out
    assert "width 32–32, height 24–24, pixels median 768" in out
    assert "example prompt:\n<image>Which colour is the bar?\nChoices:\nA. red" in out
    assert "example ground truth: 'B'" in out


def test_mix_keeps_data_source_and_limits_per_source(tmp_path, capsys):
    mathvista = _prepare(tmp_path, "mathvista")
    chartqa = _prepare(tmp_path, "chartqa")
    mixed = str(tmp_path / "val.parquet")
    assert main(["mix", mathvista, chartqa, "--output", mixed, "--per-source-limit", "2"]) == 0
    assert "[mix] wrote 4 rows" in capsys.readouterr().out
    rows = pq.read_table(mixed).to_pylist()
    assert [row["data_source"] for row in rows] == ["mathvista"] * 2 + ["chartqa"] * 2
    assert [row["reward_model"]["ground_truth"] for row in rows] == ["B", "1.25", "12", "Asia"]
    assert rows[0]["extra_info"]["pid"] == "1" and rows[2]["extra_info"]["pid"] is None  # fields unified
    assert rows[2]["extra_info"]["human_or_machine"] == "0"


def test_synthetic_is_dispatched_lazily(monkeypatch):
    calls = []
    fake = types.ModuleType("data_prep.synthetic")
    fake.main = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "data_prep.synthetic", fake)
    monkeypatch.setattr(sys.modules["data_prep"], "synthetic", fake, raising=False)
    assert main(["synthetic", "--out-dir", "x", "--train", "4"]) == 0
    assert calls == [["--out-dir", "x", "--train", "4"]]


def test_help_and_unknown_commands(capsys):
    assert main(["--help"]) == 0
    assert "python -m data_prep <name>" in capsys.readouterr().out
    assert main(["mathvistaa"]) == 2
    assert "mathvista" in capsys.readouterr().err


def test_converting_twice_replaces_the_output(tmp_path):
    output = _prepare(tmp_path, "chartqa")
    columns = CASES["chartqa"][2]
    source = str(tmp_path / "one.parquet")
    dataset_from(columns, [{"image": png(), "query": "Peak?", "label": ["3"], "human_or_machine": 0}]).to_parquet(source)
    assert main(["chartqa", "--input", source, "--output", output]) == 0
    assert pq.read_table(output).num_rows == 1
