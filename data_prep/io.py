"""Atomic, streaming parquet writing of verl rows.

Rows are written in row groups as they come (a training set with images does not fit in memory
twice), to a temporary file in the output's directory that replaces the output only once complete: a
failure or Ctrl-C leaves neither a partial parquet nor the temporary file, and an existing output stays
as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["ROW_TYPES", "EXTRA_INFO_TYPES", "row_schema", "write_parquet_atomic", "write_table_atomic"]

ROW_TYPES = {
    "data_source": pa.string(),
    "prompt": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
    "images": pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    "ability": pa.string(),
    "reward_model": pa.struct([("style", pa.string()), ("ground_truth", pa.string())]),
}
EXTRA_INFO_TYPES = {
    "split": pa.string(),
    "index": pa.int64(),
    "answer_type": pa.string(),
    "question": pa.string(),
    "choices": pa.list_(pa.string()),
    "precision": pa.int64(),
}


def row_schema(sample: list[dict]) -> pa.Schema:
    """The file schema: fixed types for verl's fields and the shared extra_info fields; other fields
    typed from ``sample`` (a field that is None throughout the sample is taken to be a string)."""

    def typed(name: str, inferred: pa.DataType, fixed: dict) -> pa.Field:
        if name in fixed:
            return pa.field(name, fixed[name])
        return pa.field(name, pa.string() if pa.types.is_null(inferred) else inferred)

    inferred = pa.Table.from_pylist(sample).schema
    fields = []
    for field in inferred:
        if field.name == "extra_info":
            children = [typed(child.name, child.type, EXTRA_INFO_TYPES) for child in field.type]
            fields.append(pa.field("extra_info", pa.struct(children)))
        else:
            fields.append(typed(field.name, field.type, ROW_TYPES))
    return pa.schema(fields)


def _check_keys(batch: list[dict], schema: pa.Schema, first_row: int) -> None:
    known = set(schema.names)
    extra_known = {field.name for field in schema.field("extra_info").type} if "extra_info" in known else set()
    for offset, row in enumerate(batch):
        unknown = set(row) - known or set(row.get("extra_info") or {}) - extra_known
        if unknown:
            raise ValueError(
                f"row {first_row + offset}: keys {sorted(unknown)} are not in the first rows; "
                "every row of a file must carry the same keys"
            )


@contextlib.contextmanager
def _atomic_target(path: str):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on any error or
    KeyboardInterrupt it is deleted and ``path`` is left untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_table_atomic(table: pa.Table, path: str, rows_per_group: int = 256) -> int:
    """Write an in-memory table to ``path`` atomically; returns its row count."""
    with _atomic_target(path) as temporary:
        pq.write_table(table, temporary, row_group_size=rows_per_group)
    return table.num_rows


def write_parquet_atomic(rows: Iterable[dict], path: str, rows_per_group: int = 256) -> int:
    """Write ``rows`` to ``path`` atomically, streaming one row group at a time.

    Returns the number of rows written. The schema comes from the first ``rows_per_group`` rows
    (``row_schema``); a later row with a new key or a clashing type raises ValueError naming the row.
    """
    written = 0
    with _atomic_target(path) as temporary:
        iterator = iter(rows)
        batch = list(itertools.islice(iterator, rows_per_group))
        schema = row_schema(batch) if batch else pa.schema([pa.field(k, t) for k, t in ROW_TYPES.items()])
        with pq.ParquetWriter(temporary, schema) as writer:
            while batch:
                _check_keys(batch, schema, written)
                try:
                    table = pa.Table.from_pylist(batch, schema=schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                    raise ValueError(f"rows {written}–{written + len(batch) - 1}: {error}") from error
                writer.write_table(table, row_group_size=rows_per_group)
                written += len(batch)
                batch = list(itertools.islice(iterator, rows_per_group))
    return written
