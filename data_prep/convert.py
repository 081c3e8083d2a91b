"""The conversion loop: source records → converter → ``build_row`` → atomic parquet, with bad rows
either stopping the run (message naming the file, the row and the source field) or counted and skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tqdm import tqdm

from data_prep.converters.common import DatasetSpec
from data_prep.errors import BadRow
from data_prep.io import check_output_path, write_parquet_atomic
from data_prep.rows import build_row
from data_prep.sources import Source

__all__ = ["ConversionError", "Summary", "check_columns", "convert"]


class ConversionError(ValueError):
    """A bad source row, located: ``row`` is its position in the source, ``file`` where it is,
    ``field`` its source column."""

    def __init__(self, message: str, row: int, file: str, field: str, reason: str):
        super().__init__(message)
        self.row, self.file, self.field, self.reason = row, file, field, reason


@dataclass
class Summary:
    """What a run did; ``skipped`` counts rows per (source field, reason); ``unread`` are the source
    columns the converter ignored."""

    read: int = 0
    written: int = 0
    skipped: Counter = field(default_factory=Counter)
    unread: list[str] = field(default_factory=list)

    def report(self, name: str, output: str) -> str:
        lines = [f"[{name}] columns not read (ignored): {', '.join(self.unread)}"] if self.unread else []
        lines.append(f"[{name}] wrote {self.written} of {self.read} rows to {output}")
        if self.skipped:
            lines.append(f"[{name}] skipped {sum(self.skipped.values())} bad rows:")
            lines += [f"  {count} × field {fld!r}: {reason}" for (fld, reason), count in self.skipped.most_common()]
        return "\n".join(lines)


def check_columns(spec: DatasetSpec, source: Source, strict: bool = False) -> list[str]:
    """The source's columns the converter does not read. Raises ValueError naming the columns a source
    lacks, or (``strict``) the unread ones."""
    missing = sorted(spec.columns - set(source.columns))
    if missing:
        raise ValueError(f"{spec.name}: {source.description} lacks columns {missing} (it has {sorted(source.columns)}; "
                         f"the converter reads {sorted(spec.reads)})")
    unread = sorted(set(source.columns) - spec.reads)
    if unread and strict:
        raise ValueError(f"{spec.name}: {source.description} has columns the converter does not read: {unread} "
                         "(--strict-columns)")
    return unread


def _invalid_text(value) -> bool:
    """Whether a cell holds text that cannot be written as UTF-8 (a lone surrogate, or bytes a source
    decoder kept with ``surrogateescape``)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list | tuple):
        return any(_invalid_text(item) for item in value)
    if isinstance(value, dict):
        return any(_invalid_text(item) for item in value.values())
    return False


def _check_record(spec: DatasetSpec, record: dict) -> None:
    """BadRow for a record (of a json source) without a column the converter needs, or with text that
    is not UTF-8 in a column it reads."""
    missing = sorted(spec.columns - set(record))
    if missing:
        raise BadRow(missing[0], "column missing in this row", f"lacks {missing}")
    for column in sorted(spec.reads & set(record)):
        if _invalid_text(record[column]):
            raise BadRow(column, "text is not valid UTF-8", "undecodable bytes or a lone surrogate")


def _source_field(spec: DatasetSpec, error: BadRow, image_fields: list[str]) -> str:
    if error.field.startswith("images[") and image_fields:
        return image_fields[int(error.field[len("images[") : -1])]
    return spec.fields.get(error.field, error.field)


def _row(spec: DatasetSpec, record: dict, split: str, position: int, max_pixels: int | None, image_dir: str) -> dict:
    """The verl row of one source record; BadRow naming the source column otherwise."""
    _check_record(spec, record)
    image_fields: list[str] = []
    try:
        fields = spec.to_fields(record)
        image_fields = fields.pop("image_fields")
        return build_row(spec.name, split, position, **fields, max_pixels=max_pixels, image_dir=image_dir)
    except BadRow as error:
        raise BadRow(_source_field(spec, error, image_fields), error.reason, error.detail) from error


def _located(spec: DatasetSpec, source: Source, record: dict, position: int, error: BadRow) -> ConversionError:
    ident = f" ({spec.id_column}={record.get(spec.id_column)!r})" if spec.id_column in record else ""
    detail = f" ({error.detail})" if error.detail else ""
    where = source.locate(position)
    message = f"{spec.name} row {position}{ident} in {where}: field {error.field!r}: {error.reason}{detail}"
    return ConversionError(message, position, where, error.field, error.reason)


def convert(
    spec: DatasetSpec,
    source: Source,
    split: str,
    output: str,
    max_pixels: int | None = None,
    limit: int | None = None,
    skip_bad: bool = False,
    image_dir: str | None = None,
    strict_columns: bool = False,
    progress: bool | None = None,
) -> Summary:
    """Convert the first ``limit`` records of ``source`` (all when None) and write ``output`` atomically.

    ``extra_info.index`` is the record's position in the source, so skipped rows leave gaps that point
    back to them. Columns the converter does not read are listed in the summary (an error when
    ``strict_columns``). ``progress=None`` shows a bar only on a terminal.
    """
    check_output_path(output)
    summary = Summary(unread=check_columns(spec, source, strict_columns))
    total = source.num_rows if limit is None else min(limit, source.num_rows)
    image_dir = image_dir or source.base_dir

    def rows():
        with tqdm(total=total, desc=spec.name, unit="row", disable=None if progress is None else not progress) as bar:
            for position, record in enumerate(source.records()):
                if position >= total:
                    break
                summary.read += 1
                bar.update()
                try:
                    row = _row(spec, record, split, position, max_pixels, image_dir)
                except BadRow as error:
                    located = _located(spec, source, record, position, error)
                    if not skip_bad:
                        raise located from error
                    summary.skipped[(located.field, located.reason)] += 1
                    continue
                summary.written += 1
                yield row

    write_parquet_atomic(rows(), output)
    return summary
