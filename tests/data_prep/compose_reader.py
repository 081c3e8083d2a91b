"""A reference reader of the ``compose`` task (tests only): the answer "<count> <colour> <kind>" read from the
pixels, so a test can check that a perturbation leaves the answer in the image.

Pixels with chroma (max − min channel) above ``MIN_CHROMA`` are coloured; each takes the palette colour of
the nearest hue (channels minus their mean, which brightness and contrast jitter leave in place); the
answer's colour is the most frequent one; its 4-connected regions of at least ``MIN_AREA`` pixels are the
shapes; a shape's kind comes from its fill of the disk around its centroid through its farthest pixel,
area / (π·r²), which rotation and flips keep: a triangle (base = height) fills 0.36, a square 0.64, a
disk 1 (rasterised at 12–16 px: triangles 0.33–0.52, squares 0.57–0.71, circles 0.74–0.93 on 600
perturbed images).
"""

import math

import torch
import torchvision.transforms.v2.functional as TF

from data_prep.synthetic import COLOURS

NAMES = sorted(COLOURS)
HUES = torch.tensor([COLOURS[name] for name in NAMES], dtype=torch.float32)
MIN_CHROMA = 70
MIN_AREA = 30
TRIANGLE_BELOW, SQUARE_BELOW = 0.545, 0.723  # fill thresholds, midway between the measured ranges


def coloured_pixels(image) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask of coloured pixels [H, W], index into NAMES of each pixel's nearest hue [H, W])."""
    pixels = TF.pil_to_tensor(image).float().permute(1, 2, 0)
    chroma = pixels.max(-1).values - pixels.min(-1).values
    centred, palette = pixels - pixels.mean(-1, keepdim=True), HUES - HUES.mean(-1, keepdim=True)
    hue = torch.cdist(centred.reshape(-1, 3), palette).argmin(-1).reshape(pixels.shape[:2])
    return chroma > MIN_CHROMA, hue


def regions(mask: torch.Tensor) -> list[list[tuple[int, int]]]:
    """The 4-connected regions of ``mask`` (lists of (y, x))."""
    height, width = mask.shape
    inside, seen, found = mask.tolist(), set(), []
    for start in map(tuple, mask.nonzero().tolist()):
        if start in seen:
            continue
        seen.add(start)
        stack, region = [start], []
        while stack:
            y, x = stack.pop()
            region.append((y, x))
            for neighbour in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                ny, nx = neighbour
                if 0 <= ny < height and 0 <= nx < width and inside[ny][nx] and neighbour not in seen:
                    seen.add(neighbour)
                    stack.append(neighbour)
        found.append(region)
    return found


def fill(region: list[tuple[int, int]]) -> float:
    cy = sum(y for y, _ in region) / len(region)
    cx = sum(x for _, x in region) / len(region)
    radius = max(math.hypot(y - cy, x - cx) for y, x in region) + 0.5
    return len(region) / (math.pi * radius**2)


def kind(region: list[tuple[int, int]]) -> str:
    value = fill(region)
    return "triangle" if value < TRIANGLE_BELOW else "square" if value < SQUARE_BELOW else "circle"


def read(image) -> str | None:
    coloured, hue = coloured_pixels(image)
    if not coloured.any():
        return None
    colour = int(torch.bincount(hue[coloured], minlength=len(NAMES)).argmax())
    shapes = [region for region in regions(coloured & (hue == colour)) if len(region) >= MIN_AREA]
    if not shapes:
        return None
    kinds = [kind(region) for region in shapes]
    return f"{len(shapes)} {NAMES[colour]} {max(sorted(set(kinds)), key=kinds.count)}"
