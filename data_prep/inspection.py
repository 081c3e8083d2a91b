"""``python -m data_prep inspect FILE``: what a prepared parquet holds, at a glance."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
from PIL import Image

from data_prep.io import open_prepared, reading


def describe(path: str, max_images: int = 2000) -> str:
    """Row count, rows per data_source and answer_type, images per row, image size statistics (over the
    first ``max_images`` images; read one row group at a time) and the first row's prompt and answer.
    PreparedFileError when ``path`` is not a readable prepared file."""
    handle = open_prepared(path)
    sources, answer_types, images_per_row, sizes = Counter(), Counter(), Counter(), []
    first = None
    columns = ["data_source", "prompt", "images", "reward_model", "extra_info"]
    with reading(path):
        for batch in handle.iter_batches(columns=columns):
            for row in batch.to_pylist():
                first = first or row
                sources[row["data_source"]] += 1
                answer_types[row["extra_info"]["answer_type"]] += 1
                images_per_row[len(row["images"] or [])] += 1
                for image in (row["images"] or [])[: max(0, max_images - len(sizes))]:
                    sizes.append(Image.open(io.BytesIO(image["bytes"])).size)
    lines = [f"{path}: {handle.metadata.num_rows} rows"]
    lines.append("data_source: " + ", ".join(f"{name} {count}" for name, count in sorted(sources.items())))
    lines.append("answer_type: " + ", ".join(f"{name} {count}" for name, count in sorted(answer_types.items())))
    lines.append("images per row: " + ", ".join(f"{n}: {count} rows" for n, count in sorted(images_per_row.items())))
    if sizes:
        pixels = np.array([width * height for width, height in sizes])
        widths, heights = zip(*sizes)
        lines.append(
            f"image size (first {len(sizes)}): width {min(widths)}–{max(widths)}, height {min(heights)}–{max(heights)}, "
            f"pixels median {int(np.median(pixels))}, max {int(pixels.max())}"
        )
    if first is not None:
        lines.append("example prompt:\n" + first["prompt"][0]["content"])
        lines.append(f"example ground truth: {first['reward_model']['ground_truth']!r}")
    return "\n".join(lines)
