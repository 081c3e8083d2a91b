"""``python -m data_prep inspect FILE``: what a prepared parquet holds, at a glance."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
from PIL import Image


def describe(path: str, max_images: int = 2000) -> str:
    """Row count, rows per data_source and answer_type, image count/size statistics (over the first
    ``max_images`` images) and the first row's prompt and ground truth."""
    table = pq.read_table(path, columns=["data_source", "prompt", "images", "reward_model", "extra_info"])
    sources = Counter(table.column("data_source").to_pylist())
    answer_types = Counter(info["answer_type"] for info in table.column("extra_info").to_pylist())
    images_per_row = [len(images or []) for images in table.column("images").to_pylist()]
    sizes = []
    for images in table.column("images").to_pylist():
        for image in images or []:
            if len(sizes) >= max_images:
                break
            sizes.append(Image.open(io.BytesIO(image["bytes"])).size)
    lines = [f"{path}: {table.num_rows} rows"]
    lines.append("data_source: " + ", ".join(f"{name} {count}" for name, count in sorted(sources.items())))
    lines.append("answer_type: " + ", ".join(f"{name} {count}" for name, count in sorted(answer_types.items())))
    lines.append(f"images: {sum(images_per_row)} ({Counter(images_per_row)} images/row)")
    if sizes:
        pixels = np.array([w * h for w, h in sizes])
        widths, heights = zip(*sizes)
        lines.append(
            f"image size (first {len(sizes)}): width {min(widths)}–{max(widths)}, height {min(heights)}–{max(heights)}, "
            f"pixels median {int(np.median(pixels))}, max {int(pixels.max())}"
        )
    if table.num_rows:
        first = table.slice(0, 1).to_pylist()[0]
        lines.append("example prompt:\n" + first["prompt"][0]["content"])
        lines.append(f"example ground truth: {first['reward_model']['ground_truth']!r}")
    return "\n".join(lines)
