"""``python -m data_prep mix``: one parquet from several prepared ones (verl validates one file list,
and metrics group by ``data_source``, which is kept)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.io import write_table_atomic


def mix(inputs: list[str], output: str, per_source_limit: int | None = None) -> dict[str, int]:
    """Concatenate ``inputs`` in order, keeping at most the first ``per_source_limit`` rows of each
    data_source; write ``output`` atomically. Returns rows kept per data_source.

    Files whose extra_info fields differ are unified (a field a file lacks is null in its rows).
    """
    tables = pa.concat_tables([pq.read_table(path) for path in inputs], promote_options="permissive")
    kept: dict[str, int] = {}
    keep = []
    for position, source in enumerate(tables.column("data_source").to_pylist()):
        if per_source_limit is None or kept.get(source, 0) < per_source_limit:
            kept[source] = kept.get(source, 0) + 1
            keep.append(position)
    write_table_atomic(tables.take(keep), output)
    return kept
