"""data_prep conversion throughput (rows/s) on a synthetic ChartQA-shaped source, by image path.

Builds a 2,000-row parquet source (HF Image cells holding chart-like drawings: bars and lines on a
light background, 16 distinct images cycled) once per variant, then times ``data_prep.convert.convert``
end to end (read, decode, convert, encode, write). Variants:
- rgb_png_passthrough: RGB PNGs within the pixel cap: decoded to check them, bytes kept as they are;
- rgba_png_reencode (level 1 / level 6): RGBA PNGs: composited on white and re-encoded as PNG at
  zlib level 1 (the project's setting) and at PNG's default level 6;
- large_jpeg_resize: 2048×1536 JPEGs capped to --max-pixels (downscale + PNG re-encode); --large-rows
  rows (default 200: each row costs ~50× a pass-through row).
Prints rows/s, output size, and each variant's time relative to pass-through, measured in this run.

    .venv/bin/python bench/bench_data_prep.py [--rows 2000] [--large-rows 200] [--width 640] [--height 480]
                                              [--max-pixels 1003520]
"""

import argparse
import io
import os
import random
import tempfile
import time

import datasets
from PIL import Image, ImageDraw

import data_prep.images
from data_prep.convert import convert
from data_prep.converters import SPECS
from data_prep.sources import open_source


def chart(rng: random.Random, width: int, height: int, mode: str) -> Image.Image:
    background = (245, 245, 240, 0) if mode == "RGBA" else (245, 245, 240)
    image = Image.new(mode, (width, height), background)
    draw = ImageDraw.Draw(image)
    bars = rng.randint(4, 12)
    for bar in range(bars):
        left = int((bar + 0.15) * width / bars)
        top = rng.randint(height // 8, height - 20)
        colour = tuple(rng.randint(0, 200) for _ in range(3)) + ((255,) if mode == "RGBA" else ())
        draw.rectangle([left, top, left + int(0.7 * width / bars), height - 10], fill=colour)
    points = [(x, rng.randint(10, height - 10)) for x in range(0, width, max(1, width // 20))]
    draw.line(points, fill=(20, 20, 20) + ((255,) if mode == "RGBA" else ()), width=2)
    return image


def build_source(path: str, rows: int, width: int, height: int, mode: str, format: str) -> None:
    rng = random.Random(0)
    encoded = []
    for _ in range(16):
        buffer = io.BytesIO()
        chart(rng, width, height, mode).save(buffer, format=format)
        encoded.append(buffer.getvalue())
    features = datasets.Features({"image": datasets.Image(), "query": datasets.Value("string"),
                                  "label": datasets.Sequence(datasets.Value("string")),
                                  "human_or_machine": datasets.ClassLabel(names=["human", "machine"])})
    records = {"image": [{"bytes": encoded[i % 16], "path": None} for i in range(rows)],
               "query": [f"What is the value of bar {i % 7}?" for i in range(rows)],
               "label": [[str(i % 100)] for i in range(rows)], "human_or_machine": [i % 2 for i in range(rows)]}
    datasets.Dataset.from_dict(records, features=features).to_parquet(path)


def run(directory: str, name: str, rows: int, width: int, height: int, mode: str, format: str,
        max_pixels: int | None, compress_level: int) -> dict:
    """Convert a fresh ``rows``-row source of this variant; returns seconds, rows/s and output MiB."""
    source_path = os.path.join(directory, f"{name}-source.parquet")
    build_source(source_path, rows, width, height, mode, format)
    output = os.path.join(directory, f"{name}.parquet")
    data_prep.images.PNG_COMPRESS_LEVEL = compress_level
    start = time.perf_counter()
    summary = convert(SPECS["chartqa"], open_source(source_path, "test"), "test", output, max_pixels=max_pixels, progress=False)
    seconds = time.perf_counter() - start
    assert summary.written == rows, summary
    return {"name": name, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "mib": os.path.getsize(output) / 2**20}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--max-pixels", type=int, default=1003520)
    parser.add_argument("--large-rows", type=int, default=200)
    args = parser.parse_args()
    default_level = data_prep.images.PNG_COMPRESS_LEVEL
    variants = [
        ("rgb_png_passthrough", args.width, args.height, "RGB", "PNG", None, default_level),
        ("rgba_png_reencode_level1", args.width, args.height, "RGBA", "PNG", None, 1),
        ("rgba_png_reencode_level6", args.width, args.height, "RGBA", "PNG", None, 6),
        ("large_jpeg_resize", 2048, 1536, "RGB", "JPEG", args.max_pixels, default_level),
    ]
    with tempfile.TemporaryDirectory() as directory:
        results = [run(directory, name, args.large_rows if name == "large_jpeg_resize" else args.rows, *rest)
                   for name, *rest in variants]
    data_prep.images.PNG_COMPRESS_LEVEL = default_level
    base = results[0]["seconds"] / results[0]["rows"]
    print(f"{args.rows} rows, {args.width}×{args.height} charts (large: 2048×1536 → ≤{args.max_pixels} px), os.cpu_count()={os.cpu_count()}")
    print(f"{'variant':<28}{'rows':>6}{'rows/s':>9}{'seconds':>9}{'MiB out':>9}{'time per row / passthrough':>28}")
    for result in results:
        print(f"{result['name']:<28}{result['rows']:>6}{result['rows_per_s']:>9.1f}{result['seconds']:>9.2f}"
              f"{result['mib']:>9.1f}{result['seconds'] / result['rows'] / base:>28.2f}")
    level1, level6 = results[1], results[2]
    print(f"PNG level 1 vs 6: time ratio {level1['seconds'] / level6['seconds']:.2f}, size ratio {level1['mib'] / level6['mib']:.2f}")


if __name__ == "__main__":
    main()
