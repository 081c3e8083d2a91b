"""Atomic, streaming parquet writing."""

import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_prep_fixtures import png

from data_prep.io import ROW_TYPES, write_parquet_atomic, write_table_atomic
from data_prep.rows import build_row


def _rows(count, extra=lambda i: {"kind": "colour", "shapes": ["square"] * (i % 3)}):
    for index in range(count):
        yield build_row("synthetic_shapes", "train", index, "<image>What colour?", [png(size=(4, 4))], "red", "text",
                        extra=extra(index))


def test_round_trip_keeps_rows_and_fixed_types(tmp_path):
    path = str(tmp_path / "rows.parquet")
    rows = list(_rows(600))
    assert write_parquet_atomic(iter(rows), path, rows_per_group=256) == 600
    table = pq.read_table(path)
    assert table.to_pylist() == rows
    for name, type_ in ROW_TYPES.items():
        assert table.schema.field(name).type == type_
    info = table.schema.field("extra_info").type
    assert info.field("index").type == pa.int64() and info.field("choices").type == pa.list_(pa.string())
    assert pq.ParquetFile(path).metadata.num_row_groups == 3


def test_none_throughout_the_first_group_is_typed_as_string(tmp_path):
    path = str(tmp_path / "rows.parquet")
    write_parquet_atomic(_rows(5, extra=lambda i: {"pid": None if i < 3 else str(i)}), path, rows_per_group=2)
    assert [row["extra_info"]["pid"] for row in pq.read_table(path).to_pylist()] == [None, None, None, "3", "4"]


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("failure", [Interrupted, KeyboardInterrupt])
def test_failure_midway_leaves_no_file_and_keeps_the_old_one(tmp_path, failure):
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"previous output")

    def failing():
        yield from _rows(300)  # more than one row group is already on disk when it fails
        raise failure()

    with pytest.raises(failure):
        write_parquet_atomic(failing(), str(path), rows_per_group=100)
    assert path.read_bytes() == b"previous output"
    assert os.listdir(tmp_path) == ["rows.parquet"]


def test_a_new_key_or_a_type_clash_later_names_the_row(tmp_path):
    path = str(tmp_path / "rows.parquet")
    with pytest.raises(ValueError, match=r"row 4: keys \['late'\]"):
        write_parquet_atomic(_rows(6, extra=lambda i: {"late": "x"} if i == 4 else {}), path, rows_per_group=2)
    with pytest.raises(ValueError, match="rows 2–3"):
        write_parquet_atomic(_rows(4, extra=lambda i: {"pid": "a" if i < 2 else ["list"]}), path, rows_per_group=2)
    assert os.listdir(tmp_path) == []


def test_no_rows_writes_an_empty_file_with_verls_columns(tmp_path):
    path = str(tmp_path / "empty.parquet")
    assert write_parquet_atomic([], path) == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and set(ROW_TYPES) <= set(table.column_names)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_parquet_atomic(_rows(2), str(tmp_path / "rows.parquet"))
        write_table_atomic(pq.read_table(tmp_path / "rows.parquet"), str(tmp_path / "copy.parquet"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "rows.parquet").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "copy.parquet").st_mode) == mode
