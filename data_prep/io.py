"""Atomic, streaming parquet writing of verl rows, and opening prepared files to read them back.

Rows are written in row groups as they come (a training set with images does not fit in memory
twice), to a temporary file in the output's directory that replaces the output only once complete: a
failure, Ctrl-C or SIGTERM (see ``data_prep.__main__``) leaves neither a partial parquet nor the
temporary file, and an existing output stays as it was. The output is created with the permissions
the umask gives any new file (not mkstemp's owner-only 0600).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "ROW_TYPES",
    "EXTRA_INFO_TYPES",
    "OutputError",
    "PreparedFileError",
    "check_output_path",
    "open_prepared",
    "read_prepared",
    "reading",
    "row_schema",
    "write_parquet_atomic",
    "write_table_atomic",
]


class OutputError(ValueError):
    """The output path cannot be written; the message says why."""


class PreparedFileError(ValueError):
    """A file given as prepared is missing, unreadable or not a converter's output; the message names it."""


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
    "numeric_rule": pa.string(),
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


def check_output_path(path: str) -> None:
    """Raise OutputError unless ``path`` names a file that can be created: not empty, not a folder,
    below a writable folder (missing folders are created later, unless a file stands in their way)."""
    if not isinstance(path, str) or not path.strip():
        raise OutputError(f"the output path is empty ({path!r})")
    if os.path.isdir(path):
        raise OutputError(f"{path!r} is a folder; give a file name, e.g. {os.path.join(path, 'out.parquet')!r}")
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputError(f"{path!r}: {existing!r} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{path!r}: the folder {existing!r} is not writable")


def _new_temporary(directory: str, name: str) -> str:
    """A new empty hidden file next to the output, created like any file (mode 0666 less the umask)."""
    path = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return path


@contextlib.contextmanager
def _atomic_target(path: str):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on any error or
    interruption it is deleted and ``path`` is left untouched."""
    check_output_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        temporary = _new_temporary(directory, os.path.basename(path))
    except OSError as error:
        raise OutputError(f"{path!r}: cannot create a file in {directory!r} ({error.strerror})") from error
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


PREPARED_COLUMNS = (*ROW_TYPES, "extra_info")


def open_prepared(path: str) -> pq.ParquetFile:
    """A converter's output opened for reading; PreparedFileError when the file is missing, empty,
    truncated, not parquet, or a raw source (it lacks verl's columns)."""
    if not os.path.exists(path):
        raise PreparedFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise PreparedFileError(f"{path}: is a folder, not a prepared parquet file")
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        message = f"{path}: not a readable parquet file (empty, truncated or another format): {error}"
        raise PreparedFileError(message) from error
    missing = [name for name in PREPARED_COLUMNS if name not in handle.schema_arrow.names]
    if missing:
        raise PreparedFileError(
            f"{path}: not a prepared file, it lacks {missing} (columns: {handle.schema_arrow.names}); "
            "convert the source with `python -m data_prep <name>` first"
        )
    return handle


@contextlib.contextmanager
def reading(path: str):
    """Turn a read error of ``path``'s row groups into a PreparedFileError naming it."""
    try:
        yield
    except (pa.ArrowException, OSError) as error:
        raise PreparedFileError(f"{path}: cannot be read to the end ({error})") from error


def read_prepared(path: str) -> pa.Table:
    """The whole prepared file ``path`` (``open_prepared``'s checks, then every row group)."""
    handle = open_prepared(path)
    with reading(path):
        return handle.read()
