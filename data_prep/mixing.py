"""``python -m data_prep mix``: one parquet from several prepared ones (verl validates one file list,
and metrics group by ``data_source``, which is kept)."""

from __future__ import annotations

import pyarrow as pa

from data_prep.io import check_output_path, read_prepared, write_table_atomic


def mix(inputs: list[str], output: str, per_source_limit: int | None = None) -> dict[str, int]:
    """Concatenate ``inputs`` in order, keeping at most the first ``per_source_limit`` rows of each
    data_source; write ``output`` atomically. Returns rows kept per data_source.

    Every input must be a converter's output (PreparedFileError naming the first that is not: a raw
    source would add rows without prompts). Files whose extra_info fields differ are unified (a field
    a file lacks is null in its rows).
    """
    if per_source_limit is not None and per_source_limit < 1:
        raise ValueError(f"per_source_limit must be at least 1, got {per_source_limit}")
    check_output_path(output)
    try:
        tables = pa.concat_tables([read_prepared(path) for path in inputs], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:  # e.g. one extra_info field typed differently
        raise ValueError(f"the inputs' columns do not agree, so they cannot be mixed: {error}") from error
    kept: dict[str, int] = {}
    keep = []
    for position, source in enumerate(tables.column("data_source").to_pylist()):
        if per_source_limit is None or kept.get(source, 0) < per_source_limit:
            kept[source] = kept.get(source, 0) + 1
            keep.append(position)
    write_table_atomic(tables.take(keep), output)
    return kept
