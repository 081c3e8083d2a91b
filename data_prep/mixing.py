"""``python -m data_prep mix``: one parquet from several prepared ones (verl validates one file list,
and metrics group by ``data_source``, which is kept)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from data_prep.io import check_output_path, read_prepared, write_table_atomic
from vogue_reward.score import row_id


def mix(inputs: list[str], output: str, per_source_limit: int | None = None,
        skipped: list[str] | None = None) -> dict[str, int]:
    """Concatenate ``inputs`` in order, keeping at most the first ``per_source_limit`` rows of each
    data_source; write ``output`` atomically. Returns rows kept per data_source.

    Every input must be a converter's output (PreparedFileError naming the first that is not: a raw
    source would add rows without prompts). Files whose extra_info fields differ are unified (a field
    a file lacks is null in its rows). Skipped, and said in ``skipped``: empty inputs, and rows whose
    (data_source, extra_info.index) an earlier row already has (the same file given twice, overlapping
    splits) — evaluation groups samples by that identity. No row at all is a ValueError.
    """
    if per_source_limit is not None and per_source_limit < 1:
        raise ValueError(f"per_source_limit must be at least 1, got {per_source_limit}")
    check_output_path(output)
    notes = skipped if skipped is not None else []
    loaded = [(path, read_prepared(path)) for path in inputs]
    notes += [f"{path}: no rows, skipped" for path, table in loaded if table.num_rows == 0]
    loaded = [(path, table) for path, table in loaded if table.num_rows]
    if not loaded:
        raise ValueError(f"no rows to mix: every input is empty ({', '.join(inputs)})")
    try:
        tables = pa.concat_tables([table for _, table in loaded], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:  # e.g. one extra_info field typed differently
        raise ValueError(f"the inputs' columns do not agree, so they cannot be mixed: {error}") from error
    origin = [path for path, table in loaded for _ in range(table.num_rows)]
    kept: dict[str, int] = {}
    first_seen: dict[tuple[str, str], str] = {}
    repeats: Counter = Counter()
    keep = []
    columns = zip(tables.column("data_source").to_pylist(), tables.column("extra_info").to_pylist())
    for position, (source, extra_info) in enumerate(columns):
        identity = (source, row_id(extra_info))
        if identity[1] and identity in first_seen:
            repeats[first_seen[identity], origin[position]] += 1
            continue
        first_seen[identity] = origin[position]
        if per_source_limit is None or kept.get(source, 0) < per_source_limit:
            kept[source] = kept.get(source, 0) + 1
            keep.append(position)
    notes += [f"{later}: {count} rows repeat the (data_source, index) of rows of {earlier}, skipped"
              for (earlier, later), count in repeats.items()]
    write_table_atomic(tables.take(pa.array(keep, type=pa.int64())), output)
    return kept
