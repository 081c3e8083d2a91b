"""The conversion loop: source records → converter → ``build_row`` → atomic parquet, with bad rows
either stopping the run (message naming the row and the source field) or counted and skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tqdm import tqdm

from data_prep.converters.common import DatasetSpec
from data_prep.errors import BadRow
from data_prep.io import write_parquet_atomic
from data_prep.rows import build_row
from data_prep.sources import Source

__all__ = ["ConversionError", "Summary", "check_columns", "convert"]


class ConversionError(ValueError):
    """A bad source row, located: ``row`` is its position in the source, ``field`` its source column."""

    def __init__(self, message: str, row: int, field: str, reason: str):
        super().__init__(message)
        self.row, self.field, self.reason = row, field, reason


@dataclass
class Summary:
    """What a run did; ``skipped`` counts rows per (source field, reason)."""

    read: int = 0
    written: int = 0
    skipped: Counter = field(default_factory=Counter)

    def report(self, name: str, output: str) -> str:
        lines = [f"[{name}] wrote {self.written} of {self.read} rows to {output}"]
        if self.skipped:
            lines.append(f"[{name}] skipped {sum(self.skipped.values())} bad rows:")
            lines += [f"  {count} × field {fld!r}: {reason}" for (fld, reason), count in self.skipped.most_common()]
        return "\n".join(lines)


def check_columns(spec: DatasetSpec, columns: list[str], allow_extra_columns: bool) -> None:
    """Raise ValueError naming the columns a source lacks, or (unless allowed) has beyond the known ones."""
    missing = sorted(spec.columns - set(columns))
    if missing:
        raise ValueError(f"{spec.name}: source lacks columns {missing} (it has {sorted(columns)}; expects {spec.expects})")
    unknown = sorted(set(columns) - spec.columns - spec.optional_columns)
    if unknown and not allow_extra_columns:
        raise ValueError(
            f"{spec.name}: unknown columns {unknown} (known: {sorted(spec.columns | spec.optional_columns)}). "
            "A changed schema can mean a changed meaning; check them, then pass --allow-extra-columns to ignore them."
        )


def _source_field(spec: DatasetSpec, error: BadRow, image_fields: list[str]) -> str:
    if error.field.startswith("images[") and image_fields:
        return image_fields[int(error.field[len("images[") : -1])]
    return spec.fields.get(error.field, error.field)


def _located(spec: DatasetSpec, record: dict, position: int, source_field: str, error: BadRow) -> ConversionError:
    ident = f" ({spec.id_column}={record.get(spec.id_column)!r})" if spec.id_column in record else ""
    detail = f" ({error.detail})" if error.detail else ""
    message = f"{spec.name} row {position}{ident}: field {source_field!r}: {error.reason}{detail}"
    return ConversionError(message, position, source_field, error.reason)


def convert(
    spec: DatasetSpec,
    source: Source,
    split: str,
    output: str,
    max_pixels: int | None = None,
    limit: int | None = None,
    skip_bad: bool = False,
    image_dir: str | None = None,
    allow_extra_columns: bool = False,
    progress: bool | None = None,
) -> Summary:
    """Convert the first ``limit`` records of ``source`` (all when None) and write ``output`` atomically.

    ``extra_info.index`` is the record's position in the source, so skipped rows leave gaps that point
    back to them. ``progress=None`` shows a bar only on a terminal.
    """
    check_columns(spec, source.columns, allow_extra_columns)
    summary = Summary()
    total = source.num_rows if limit is None else min(limit, source.num_rows)
    image_dir = image_dir or source.base_dir

    def rows():
        with tqdm(total=total, desc=spec.name, unit="row", disable=None if progress is None else not progress) as bar:
            for position, record in enumerate(source.records()):
                if position >= total:
                    break
                summary.read += 1
                bar.update()
                image_fields: list[str] = []
                try:
                    fields = spec.to_fields(record)
                    image_fields = fields.pop("image_fields")
                    row = build_row(spec.name, split, position, **fields, max_pixels=max_pixels, image_dir=image_dir)
                except BadRow as error:
                    located = _located(spec, record, position, _source_field(spec, error, image_fields), error)
                    if not skip_bad:
                        raise located from error
                    summary.skipped[(located.field, located.reason)] += 1
                    continue
                summary.written += 1
                yield row

    write_parquet_atomic(rows(), output)
    return summary
