"""Synthetic visual tasks for CPU runs: the answer is only in the image.

    python -m data_prep synthetic --out-dir DIR [--task shapes|compose] [--train 512] [--val 64] [--seed 0] [--size N]

``--task shapes`` (the main job's, default; 56 px): each row is one rendered image (white canvas) and one
of two questions:
- ``colour``: a single filled shape; "What colour is the shape?" → its colour.
- ``bigger``: two shapes of different colours and clearly different sizes; "Which shape is bigger,
  the <c1> one or the <c2> one?" → the colour of the bigger one (the text names both colours in a
  random order, so the text alone gives no hint).
A guesser that picks one of the named colours is right half the time on ``bigger``: pass@k near 1
for k ≥ 8 measures how random a policy stays, not what it sees.

``--task compose`` (a perception task; 84 px): 1–3 identical filled shapes of one colour and one kind;
"How many shapes are there, and of which colour and kind?" → "<count> <colour> <kind>" ("2 red circle").
The text names no answer and no candidates; the ``COMPOSE_ANSWERS`` (3 counts × 4 colours × 3 kinds = 36)
are equally likely, so a uniform guesser has pass@k = 1 − (35/36)^k (pass@8 = 0.20). Every shape lies
inside the disk of radius size/2 − 2 around the centre and 4 px apart from the others, so flips and
rotations on the same canvas keep every shape whole and apart.

Answers use ``answer_type: text``, written to ``DIR/train.parquet`` and ``DIR/val.parquet`` in verl's row
layout (``data_source``: ``synthetic_shapes`` or ``synthetic_compose``). Seeded and deterministic.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

from PIL import Image, ImageDraw

__all__ = ["COLOURS", "SHAPES", "DATA_SOURCE", "TASKS", "COMPOSE_ANSWERS", "make_example", "make_compose_example",
           "make_rows", "vocabulary_text", "main"]

DATA_SOURCE = "synthetic_shapes"
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 200, 20)}
SHAPES = ("square", "circle", "triangle")
QUESTIONS = {
    "colour": "What colour is the shape?",
    "bigger": "Which shape is bigger, the {first} one or the {second} one?",
}
COMPOSE_SOURCE = "synthetic_compose"
COMPOSE_QUESTION = "How many shapes are there, and of which colour and kind?"
COMPOSE_COUNTS = (1, 2, 3)
COMPOSE_ANSWERS = tuple(f"{count} {colour} {shape}" for count in COMPOSE_COUNTS for colour in sorted(COLOURS) for shape in SHAPES)
COMPOSE_GAP = 4  # pixels between two shapes' boxes
COMPOSE_MARGIN = 2  # pixels between the rotation disk and the canvas edge
TASKS = {"shapes": 56, "compose": 84}  # task -> default image side


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


def _inside_rotation_disk(box: tuple[int, int, int, int], size: int) -> bool:
    """Every corner of ``box`` within radius size/2 − COMPOSE_MARGIN of the canvas centre: a rotation about
    the centre keeps the box on the canvas."""
    centre, radius = (size - 1) / 2, size / 2 - COMPOSE_MARGIN
    left, top, right, bottom = box
    return all((x - centre) ** 2 + (y - centre) ** 2 <= radius**2 for x in (left, right) for y in (top, bottom))


def _apart(box: tuple[int, int, int, int], other: tuple[int, int, int, int]) -> bool:
    return (box[0] > other[2] + COMPOSE_GAP or other[0] > box[2] + COMPOSE_GAP
            or box[1] > other[3] + COMPOSE_GAP or other[1] > box[3] + COMPOSE_GAP)


def compose_layout(rng: random.Random, size: int = 84) -> tuple[int, str, str, list[tuple[int, int, int, int]]]:
    """(count, colour, kind, boxes) of one ``compose`` example: boxes of side size/7 to size/5 placed at random
    inside the rotation disk, ``COMPOSE_GAP`` apart (placement is retried from scratch if it gets stuck)."""
    count, colour, shape = rng.choice(COMPOSE_COUNTS), rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
    while True:
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(200):
            extent = rng.randint(size // 7, size // 5)
            left, top = rng.randint(0, size - extent), rng.randint(0, size - extent)
            box = (left, top, left + extent - 1, top + extent - 1)
            if _inside_rotation_disk(box, size) and all(_apart(box, other) for other in boxes):
                boxes.append(box)
                if len(boxes) == count:
                    return count, colour, shape, boxes


def make_compose_example(rng: random.Random, size: int = 84) -> tuple[Image.Image, str, str, dict]:
    """Return (image, question, answer, metadata) for one ``compose`` example."""
    count, colour, shape, boxes = compose_layout(rng, size)
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for box in boxes:
        _draw_shape(draw, shape, box, COLOURS[colour])
    return image, COMPOSE_QUESTION, f"{count} {colour} {shape}", {"kind": "compose", "shapes": [shape] * count}


def make_rows(split: str, count: int, seed: int, size: int | None = None, task: str = "shapes") -> list[dict]:
    """``count`` verl rows of ``task`` for ``split``; the stream of examples depends only on (seed, split)
    (and the task); ``size`` defaults to the task's (``TASKS``)."""
    from data_prep.rows import build_row

    rng = random.Random(f"{seed}-{split}")
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; choose from {sorted(TASKS)}")
    example = make_compose_example if task == "compose" else make_example
    source = COMPOSE_SOURCE if task == "compose" else DATA_SOURCE
    rows = []
    for index in range(count):
        image, question, answer, meta = example(rng, size or TASKS[task])
        rows.append(
            build_row(
                data_source=source,
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


def vocabulary_text(task: str = "shapes") -> list[str]:
    """Every word ``task``'s prompts and answers use (the tiny tokenizer is trained on these)."""
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; choose from {sorted(TASKS)}")
    if task == "compose":
        return [COMPOSE_QUESTION, *COMPOSE_QUESTION.split()] + [
            f"<think>The {answer} shape.</think>\\boxed{{{answer}}}" for answer in COMPOSE_ANSWERS]
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
    parser.add_argument("--task", choices=sorted(TASKS), default="shapes")
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, help="image side in pixels (multiple of 28; default 56 for shapes, 84 for compose)")
    args = parser.parse_args(argv)
    size = args.size or TASKS[args.task]
    if size % 28:
        parser.error(f"--size must be a multiple of 28 (Qwen2.5-VL's merged patch), got {size}")
    os.makedirs(args.out_dir, exist_ok=True)
    for split, count in (("train", args.train), ("val", args.val)):
        path = os.path.join(args.out_dir, f"{split}.parquet")
        write_parquet_atomic(make_rows(split, count, args.seed, size, args.task), path)
        print(f"[synthetic] wrote {count} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
