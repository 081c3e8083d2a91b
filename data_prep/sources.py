"""Open a source dataset in any of the forms a researcher has it in, offline first.

- a ``datasets.save_to_disk`` folder (a Dataset, or a DatasetDict: the split picks one);
- a folder as a hub download leaves it: parquet / json / jsonl shards, the split named by the file
  (``testmini-00000-of-00001.parquet``, ``test.jsonl``) or by a folder (``data/testmini/…``); a
  folder whose files do not name splits is read through its README's ``configs`` by ``datasets``;
- a single parquet / json / jsonl file (the split argument does not apply);
- a hub id (``AI4Math/MathVista``) when the hub is reachable.
Records come back as plain dicts with images NOT decoded (HF ``Image`` cells are ``{"bytes", "path"}``
dicts), so a corrupt image becomes a row error in the converter instead of a crash in the loader. Text
that is not UTF-8 is kept with its bytes as lone surrogates (``surrogateescape``), for the same reason:
the conversion loop reports the row and column.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Source", "open_source", "SourceError"]

DATA_EXTENSIONS = (".parquet", ".jsonl", ".json")
_BATCH_ROWS = 64


class SourceError(ValueError):
    """The source cannot be opened as asked (path, split or format)."""


@dataclass
class Source:
    """An opened source: its columns, row count, a batch iterator, the folder relative paths start in,
    and its files with their row counts, in reading order (for error messages)."""

    description: str
    columns: list[str]
    num_rows: int
    batches: Callable[[], Iterator[list[dict]]]
    base_dir: str
    files: list[tuple[str, int]]

    def records(self) -> Iterator[dict]:
        for batch in self.batches():
            yield from batch

    def locate(self, position: int) -> str:
        """Where source row ``position`` is: its file, and for a source of several files its row there."""
        if len(self.files) == 1:
            return self.files[0][0]
        for path, rows in self.files:
            if position < rows:
                return f"{path}, its row {position}"
            position -= rows
        raise IndexError("row beyond the source's files")


def _text_kept_as_bytes(column: pa.ChunkedArray | pa.Array) -> list:
    """A string column's values, undecodable bytes kept as lone surrogates instead of failing the batch."""
    binary = pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary()
    values = column.cast(binary).to_pylist()
    return [None if value is None else value.decode("utf-8", "surrogateescape") for value in values]


def _to_records(table: pa.Table | pa.RecordBatch, where: str) -> list[dict]:
    """``table.to_pylist()``; a top-level string column holding non-UTF-8 bytes is decoded per value
    (see the module docstring), any other undecodable cell is a SourceError naming ``where``."""
    try:
        return table.to_pylist()
    except UnicodeDecodeError:
        pass
    columns = {}
    for name, column in zip(table.schema.names, table.columns):
        try:
            columns[name] = column.to_pylist()
        except UnicodeDecodeError as error:
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                raise SourceError(f"{where}: column {name!r} holds text that is not UTF-8 ({error})") from error
            columns[name] = _text_kept_as_bytes(column)
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def _from_hf_dataset(dataset, description: str, base_dir: str) -> Source:
    def batches():
        for table in dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS):
            yield _to_records(table, description)

    return Source(description, list(dataset.column_names), len(dataset), batches, base_dir,
                  [(description, len(dataset))])


def _open_parquet(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise SourceError(f"{path}: not a readable parquet file ({error})") from error


def _from_parquet(paths: list[str], description: str) -> Source:
    files = [_open_parquet(path) for path in paths]
    columns = files[0].schema_arrow.names
    for path, handle in zip(paths[1:], files[1:]):
        if handle.schema_arrow.names != columns:
            raise SourceError(f"shard {path} has columns {handle.schema_arrow.names}, {paths[0]} has {columns}")

    def batches():
        for path, handle in zip(paths, files):
            try:
                for batch in handle.iter_batches(batch_size=_BATCH_ROWS):
                    yield _to_records(batch, path)
            except (pa.ArrowException, OSError) as error:
                raise SourceError(f"{path}: cannot be read to the end ({error})") from error

    counts = [handle.metadata.num_rows for handle in files]
    return Source(description, columns, sum(counts), batches, os.path.dirname(paths[0]), list(zip(paths, counts)))


def _read_json_records(path: str) -> list[dict]:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        if path.endswith(".jsonl"):
            records = []
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise SourceError(f"{path} line {line_number}: not JSON ({error})") from error
        else:
            try:
                records = json.load(handle)
            except json.JSONDecodeError as error:
                raise SourceError(f"{path}: not JSON ({error})") from error
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise SourceError(f"{path}: expected a list of JSON objects (one per row)")
    return records


def _from_json(paths: list[str], description: str) -> Source:
    per_file = [_read_json_records(path) for path in paths]
    records = [record for file_records in per_file for record in file_records]
    columns = list(dict.fromkeys(key for record in records for key in record))

    def batches():
        for start in range(0, len(records), _BATCH_ROWS):
            yield records[start : start + _BATCH_ROWS]

    files = [(path, len(file_records)) for path, file_records in zip(paths, per_file)]
    return Source(description, columns, len(records), batches, os.path.dirname(paths[0]), files)


def _from_files(paths: list[str], description: str) -> Source:
    kinds = {os.path.splitext(path)[1] for path in paths}
    if kinds == {".parquet"}:
        return _from_parquet(paths, description)
    if kinds <= {".json", ".jsonl"}:
        return _from_json(paths, description)
    raise SourceError(f"{description}: mixed data file formats {sorted(kinds)}")


def split_names(relative_path: str) -> set[str]:
    """The split names a data file's path carries: every folder, and the file name up to its first "-"
    (``data/testmini-00000-of-00001.parquet`` → {"data", "testmini"}; ``non_image-0.parquet`` is not "image")."""
    *folders, name = relative_path.replace(os.sep, "/").split("/")
    stem = name.split(".", 1)[0]
    return set(folders) | {stem.split("-", 1)[0]}


def _data_files(folder: str) -> list[str]:
    found = []
    for root, directories, files in os.walk(folder):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        found += [os.path.relpath(os.path.join(root, f), folder) for f in sorted(files) if f.endswith(DATA_EXTENSIONS)]
    return found


def _from_folder(folder: str, split: str) -> Source:
    import datasets

    if os.path.isfile(os.path.join(folder, "dataset_dict.json")):
        dataset_dict = datasets.load_from_disk(folder)
        if split not in dataset_dict:
            raise SourceError(f"{folder}: no split {split!r} (splits: {sorted(dataset_dict)})")
        return _from_hf_dataset(dataset_dict[split], f"{folder} [{split}]", folder)
    if os.path.isfile(os.path.join(folder, "state.json")):
        return _from_hf_dataset(datasets.load_from_disk(folder), folder, folder)
    files = _data_files(folder)
    if not files:
        raise SourceError(f"{folder}: no parquet/json/jsonl files and not a save_to_disk folder")
    matching = [path for path in files if split in split_names(path)]
    if matching:
        return _from_files([os.path.join(folder, path) for path in matching], f"{folder} [{split}]")
    if os.path.isfile(os.path.join(folder, "README.md")):
        try:
            dataset = datasets.load_dataset(folder, split=split)
        except (ValueError, KeyError) as error:
            raise SourceError(
                f"{folder}: no data file names split {split!r}, and its README gives none ({error})"
            ) from error
        return _from_hf_dataset(dataset, f"{folder} [{split}] (README configs)", folder)
    named = sorted(set().union(*(split_names(path) for path in files)))
    raise SourceError(f"{folder}: no data file for split {split!r}; names found in its file paths: {named}")


def open_source(source: str, split: str) -> Source:
    """Open ``source`` (folder, file or hub id, see the module docstring) at ``split``."""
    if os.path.isdir(source):
        return _from_folder(os.path.abspath(source), split)
    if os.path.isfile(source):
        if not source.endswith(DATA_EXTENSIONS):
            raise SourceError(f"{source}: expected a .parquet, .json or .jsonl file")
        return _from_files([os.path.abspath(source)], source)
    if source.count("/") == 1 and not source.startswith((".", "/")):
        import datasets

        try:
            dataset = datasets.load_dataset(source, split=split)
        except Exception as error:  # offline, unknown repo, gated, bad split: all reported the same way
            raise SourceError(
                f"{source!r} is not a local path, and loading it from the hub failed "
                f"({type(error).__name__}: {error}). Download it on a connected machine with "
                f"`hf download {source} --repo-type dataset --local-dir DIR` and pass DIR."
            ) from error
        return _from_hf_dataset(dataset, f"{source} [{split}] (hub)", os.getcwd())
    raise SourceError(f"{source}: no such file or folder")
