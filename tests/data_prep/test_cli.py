"""The list / inspect / mix / synthetic commands, and the CLI's errors for bad options, output paths
and input files."""

import contextlib
import os
import subprocess
import sys
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
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


# ---------------------------------------------------------------------------------------------------
# Bad options, output paths and input files: one clear line naming the option or the file, no output


@pytest.mark.parametrize(
    "options, message",
    [
        (["--max-pixels", "-5"], "argument --max-pixels: must be at least 0 (0 = never downscale), got -5"),
        (["--max-pixels", "lots"], "argument --max-pixels: not an integer: 'lots'"),
        (["--limit", "-1"], "argument --limit: must be at least 1 (source rows to convert), got -1"),
        (["--limit", "0"], "argument --limit: must be at least 1 (source rows to convert), got 0"),
    ],
)
def test_bad_conversion_options_are_usage_errors(tmp_path, capsys, options, message):
    source = str(tmp_path / "source.parquet")
    dataset_from(CASES["chartqa"][2], CASES["chartqa"][3]).to_parquet(source)
    with pytest.raises(SystemExit) as stopped:
        main(["chartqa", "--input", source, "--output", str(tmp_path / "out.parquet"), *options])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["source.parquet"]


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_mix_refuses_a_per_source_limit_below_one(tmp_path, capsys, limit):
    prepared = _prepare(tmp_path, "chartqa")
    with pytest.raises(SystemExit) as stopped:
        main(["mix", prepared, "--output", str(tmp_path / "mixed.parquet"), "--per-source-limit", limit])
    assert stopped.value.code == 2
    assert f"argument --per-source-limit: must be at least 1 (rows kept per data_source), got {limit}" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "mixed.parquet")


@contextlib.contextmanager
def _read_only(folder):
    """``folder`` made unwritable for real: mode 0555, and for root (whom modes do not stop) the
    immutable attribute; skips when neither takes effect here."""
    folder.chmod(0o555)
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("cannot make a folder read-only for this user here")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def _output_problem(tmp_path, problem):
    """(the --output value, the message expected) for each kind of unwritable output path."""
    if problem == "empty":
        return "", "error: --output: the output path is empty ('')"
    if problem == "is a folder":
        (tmp_path / "outdir").mkdir()
        return str(tmp_path / "outdir"), f"error: --output: '{tmp_path / 'outdir'}' is a folder; give a file name"
    if problem == "parent is a file":
        (tmp_path / "plain").write_text("x")
        path = tmp_path / "plain" / "sub" / "out.parquet"
        return str(path), f"error: --output: '{path}': '{tmp_path / 'plain'}' is a file, so no folder can be made there"
    (tmp_path / "locked").mkdir()
    path = tmp_path / "locked" / "out.parquet"
    return str(path), f"error: --output: '{path}': the folder '{tmp_path / 'locked'}' is not writable"


@pytest.mark.parametrize("problem", ["empty", "is a folder", "parent is a file", "read-only folder"])
@pytest.mark.parametrize("command", ["convert", "mix"])
def test_output_path_problems_are_clear_errors(tmp_path, capsys, problem, command):
    prepared = _prepare(tmp_path, "chartqa")
    output, message = _output_problem(tmp_path, problem)
    argv = ["mix", prepared] if command == "mix" else ["chartqa", "--input", str(tmp_path / "chartqa-source.parquet")]
    capsys.readouterr()
    with _read_only(tmp_path / "locked") if problem == "read-only folder" else contextlib.nullcontext():
        assert main([*argv, "--output", output]) == 1
        if problem == "read-only folder":
            assert os.listdir(tmp_path / "locked") == []
    assert message in capsys.readouterr().err


def _bad_file(tmp_path, kind) -> str:
    """A path that is not a readable prepared file, of the given kind."""
    path = tmp_path / f"{kind.replace(' ', '_')}.parquet"
    if kind == "zero bytes":
        path.write_bytes(b"")
    elif kind == "truncated":
        whole = open(_prepare(tmp_path, "chartqa"), "rb").read()
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "raw source":
        dataset_from(CASES["chartqa"][2], CASES["chartqa"][3]).to_parquet(str(path))
    return str(path)


BAD_FILES = {
    "missing": "no such file",
    "zero bytes": "not a readable parquet file (empty, truncated or another format)",
    "truncated": "not a readable parquet file (empty, truncated or another format)",
    "raw source": "not a prepared file, it lacks ['data_source', 'prompt', 'images', 'ability', 'reward_model', "
                  "'extra_info']",
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_inspect_names_a_file_that_is_not_a_prepared_one(tmp_path, capsys, kind):
    path = _bad_file(tmp_path, kind)
    assert main(["inspect", path]) == 1
    assert f"error: {path}: {BAD_FILES[kind]}" in capsys.readouterr().err


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_mix_refuses_a_file_that_is_not_a_prepared_one(tmp_path, capsys, kind):
    prepared = _prepare(tmp_path, "mathvista")
    path = _bad_file(tmp_path, kind)
    mixed = tmp_path / "mixed.parquet"
    assert main(["mix", prepared, path, "--output", str(mixed)]) == 1
    assert f"error: {path}: {BAD_FILES[kind]}" in capsys.readouterr().err
    assert not mixed.exists()


def test_mix_names_columns_that_do_not_agree(tmp_path, capsys):
    prepared = _prepare(tmp_path, "chartqa")
    table = pq.read_table(prepared).to_pylist()
    for row in table:
        row["extra_info"]["human_or_machine"] = 1  # an int where the other file has text
    other = str(tmp_path / "other.parquet")
    pq.write_table(pa.Table.from_pylist(table), other)
    assert main(["mix", prepared, other, "--output", str(tmp_path / "mixed.parquet")]) == 1
    assert "error: the inputs' columns do not agree, so they cannot be mixed" in capsys.readouterr().err
    assert not (tmp_path / "mixed.parquet").exists()


def test_mix_skips_and_reports_empty_inputs_and_repeated_rows(tmp_path, capsys):
    mathvista = _prepare(tmp_path, "mathvista")
    empty = str(tmp_path / "empty.parquet")
    pq.write_table(pq.read_table(mathvista).slice(0, 0), empty)
    mixed = str(tmp_path / "val.parquet")
    assert main(["mix", empty, mathvista, mathvista, "--output", mixed]) == 0
    out = capsys.readouterr().out
    assert f"[mix] {empty}: no rows, skipped" in out
    assert f"[mix] {mathvista}: 4 rows repeat the (data_source, index) of rows of {mathvista}, skipped" in out
    assert "[mix] wrote 4 rows" in out and pq.read_table(mixed).num_rows == 4


def test_mix_of_nothing_but_empty_files_is_one_line(tmp_path, capsys):
    empty = str(tmp_path / "empty.parquet")
    pq.write_table(pq.read_table(_prepare(tmp_path, "mathvista")).slice(0, 0), empty)
    capsys.readouterr()
    assert main(["mix", empty, "--output", str(tmp_path / "out.parquet")]) == 1
    assert capsys.readouterr().err.strip() == f"error: no rows to mix: every input is empty ({empty})"
    assert not (tmp_path / "out.parquet").exists()
