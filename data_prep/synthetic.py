"""A synthetic visual task for CPU runs: the answer is only in the image.

    python -m data_prep synthetic --out-dir DIR [--train 512] [--val 64] [--seed 0] [--size 56]

Each row is one rendered image (white canvas) and one of two questions:
- ``colour``: a single filled shape; "What colour is the shape?" → its colour.
- ``bigger``: two shapes of different colours and clearly different sizes; "Which shape is bigger,
  the <c1> one or the <c2> one?" → the colour of the bigger one (the text names both colours in a
  random order, so the text alone gives no hint).
Answers are colour words with ``answer_type: text``, written to ``DIR/train.parquet`` and
``DIR/val.parquet`` in verl's row layout (``data_source: synthetic_shapes``). Seeded and deterministic.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

from PIL import Image, ImageDraw

__all__ = ["COLOURS", "SHAPES", "DATA_SOURCE", "make_example", "make_rows", "vocabulary_text", "main"]

DATA_SOURCE = "synthetic_shapes"
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 200, 20)}
SHAPES = ("square", "circle", "triangle")
QUESTIONS = {
    "colour": "What colour is the shape?",
    "bigger": "Which shape is bigger, the {first} one or the {second} one?",
}


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], colour) -> None:
    left, top, right, bottom = box
    if shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.polygon([((left + right) // 2, top), (left, bottom), (right, bottom)], fill=colour)


def _box(rng: random.Random, size: int, extent: int, region: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square box of side ``extent`` placed at random inside the horizontal band ``region``."""
    low, high = region
    left = rng.randint(low, max(low, high - extent))
    top = rng.randint(0, size - extent)
    return left, top, left + extent - 1, top + extent - 1


def make_example(rng: random.Random, size: int = 56) -> tuple[Image.Image, str, str, dict]:
    """Return (image, question, answer, metadata) for one random example."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    kind = rng.choice(sorted(QUESTIONS))
    if kind == "colour":
        colour = rng.choice(sorted(COLOURS))
        shape = rng.choice(SHAPES)
        _draw_shape(draw, shape, _box(rng, size, rng.randint(size // 3, size - 4), (0, size)), COLOURS[colour])
        return image, QUESTIONS[kind], colour, {"kind": kind, "shapes": [shape]}
    big, small = rng.sample(sorted(COLOURS), 2)
    half = size // 2
    big_extent, small_extent = rng.randint(half - 6, half - 1), rng.randint(size // 7, size // 5)
    regions = [(0, half), (half, size)]
    rng.shuffle(regions)
    shapes = [rng.choice(SHAPES), rng.choice(SHAPES)]
    _draw_shape(draw, shapes[0], _box(rng, size, big_extent, regions[0]), COLOURS[big])
    _draw_shape(draw, shapes[1], _box(rng, size, small_extent, regions[1]), COLOURS[small])
    first, second = rng.sample([big, small], 2)
    return image, QUESTIONS[kind].format(first=first, second=second), big, {"kind": kind, "shapes": shapes}


def make_rows(split: str, count: int, seed: int, size: int = 56) -> list[dict]:
    """``count`` verl rows for ``split``; the stream of examples depends only on (seed, split)."""
    from data_prep.rows import build_row

    rng = random.Random(f"{seed}-{split}")
    rows = []
    for index in range(count):
        image, question, answer, meta = make_example(rng, size)
        rows.append(
            build_row(
                data_source=DATA_SOURCE,
                split=split,
                index=index,
                question="<image>" + question,
                images=[image],
                ground_truth=answer,
                answer_type="text",
                extra=meta,
            )
        )
    return rows


def vocabulary_text() -> list[str]:
    """Every word the task's prompts and answers use (the tiny tokenizer is trained on these)."""
    texts = list(QUESTIONS["colour"].split()) + [QUESTIONS["colour"]]
    for first in COLOURS:
        for second in COLOURS:
            texts.append(QUESTIONS["bigger"].format(first=first, second=second))
    texts += [f"<think>The {c} shape.</think>\\boxed{{{c}}}" for c in COLOURS]
    return texts


def main(argv: list[str] | None = None) -> int:
    from data_prep.io import write_parquet_atomic

    parser = argparse.ArgumentParser(prog="python -m data_prep synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=56, help="image side in pixels (multiple of 28)")
    args = parser.parse_args(argv)
    if args.size % 28:
        parser.error(f"--size must be a multiple of 28 (Qwen2.5-VL's merged patch), got {args.size}")
    os.makedirs(args.out_dir, exist_ok=True)
    for split, count in (("train", args.train), ("val", args.val)):
        path = os.path.join(args.out_dir, f"{split}.parquet")
        write_parquet_atomic(make_rows(split, count, args.seed, args.size), path)
        print(f"[synthetic] wrote {count} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
