"""Source images → self-contained RGB image bytes for verl rows.

Sources hand images over as PIL images, raw bytes, ``{"bytes", "path"}`` dicts (an HF ``Image`` column
read without decoding) or file paths (ViRL39K, json sources). ``to_rgb_bytes`` decodes the whole image
(so truncated files fail here, not in the trainer), converts every mode to 8-bit RGB, pads images the
Qwen2.5-VL processor would refuse as too elongated, caps the pixel count keeping the aspect ratio, and
re-encodes as PNG only when something changed.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image

from data_prep.errors import BadRow

# qwen_vl_utils' default cap (16384 merged tokens × 28²): storing more pixels than this only costs disk.
DEFAULT_MAX_PIXELS = 16384 * 28 * 28
# PNG's default zlib level. bench/bench_data_prep.py: level 1 cut re-encoding CPU by 14 % but doubled
# the size of chart PNGs, and the files are read every epoch while converted once.
PNG_COMPRESS_LEVEL = 6
_PASS_THROUGH_FORMATS = {"PNG", "JPEG"}
_BACKGROUND = (255, 255, 255)
# Qwen2.5-VL's processor raises "absolute aspect ratio must be smaller than 200" on such images
MAX_ASPECT_RATIO = 200
# padding target: half the limit. capped_size floors both sides (each ≥ 1); a floored short side of
# at least 1 keeps at least half its length, so a capped 100:1 image stays below 200:1
PADDED_ASPECT_RATIO = 100


def open_image(value, field: str, image_dir: str | None = None) -> tuple[Image.Image, bytes | None]:
    """Decode one source image fully; return (image, its original encoded bytes or None if given as PIL).

    Relative paths are resolved against ``image_dir``. Raises BadRow(field) when the value is missing,
    the file does not exist, or the bytes do not decode.
    """
    if isinstance(value, Image.Image):
        return value, None
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        value = data if data else path
    if value is None or (isinstance(value, str | bytes) and len(value) == 0):
        raise BadRow(field, "missing image")
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if not os.path.isabs(path) and image_dir is not None:
            path = os.path.join(image_dir, path)
        if not os.path.isfile(path):
            raise BadRow(field, "image file not found", path)
        with open(path, "rb") as handle:
            value = handle.read()
    if not isinstance(value, bytes | bytearray | memoryview):
        raise BadRow(field, "unsupported image value", type(value).__name__)
    data = bytes(value)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.DecompressionBombError as error:
        raise BadRow(field, "image too large to decode safely", str(error)) from error
    except Exception as error:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError…)
        raise BadRow(field, "corrupt image bytes", f"{type(error).__name__}: {error}") from error
    return image, data


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: alpha is composited on white, 16/32-bit grey is rescaled (not clipped), CMYK converted.

    ``convert("RGB")`` alone would turn transparent pixels black (or whatever hides under alpha) and
    clip 16-bit values above 255 to white.
    """
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode == "F":  # float images: [0, 1] or [0, 255]
            scale = 255.0 if pixels.max(initial=0.0) <= 1.0 else 1.0
        else:  # 16-bit grey (PIL opens 16-bit PNG/TIFF as I;16 or I)
            scale = 255.0 / 65535.0
        grey = np.clip(np.rint(pixels * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def capped_size(width: int, height: int, max_pixels: int | None) -> tuple[int, int]:
    """Largest (w, h) with w·h ≤ max_pixels and w/h ≈ width/height: s = √(max_pixels / (width·height)),
    w = ⌊width·s⌋, h = ⌊height·s⌋ (each ≥ 1). Unchanged when already within the cap."""
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    # the epsilon absorbs float error on exact cases (83·83 under a cap of 6889 must stay 83·83)
    nudged = max(1, math.floor(width * scale + 1e-6)), max(1, math.floor(height * scale + 1e-6))
    if nudged[0] * nudged[1] <= max_pixels:
        return nudged
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def too_elongated(width: int, height: int) -> bool:
    return max(width, height) >= MAX_ASPECT_RATIO * min(width, height)


def pad_to_aspect(image: Image.Image) -> Image.Image:
    """A too elongated RGB image centred on a white canvas whose short side is long/PADDED_ASPECT_RATIO
    (a 4000×2 strip becomes 4000×40): every pixel is kept, unlike cropping or squashing it."""
    if not too_elongated(*image.size):
        return image
    short = math.ceil(max(image.size) / PADDED_ASPECT_RATIO)
    size = (image.width, short) if image.width > image.height else (short, image.height)
    canvas = Image.new("RGB", size, _BACKGROUND)
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return canvas


def to_rgb_bytes(value, field: str, max_pixels: int | None = None, image_dir: str | None = None) -> bytes:
    """Encoded RGB image for a verl row: the source bytes themselves when they already are an RGB
    PNG/JPEG within ``max_pixels`` and of an aspect ratio below MAX_ASPECT_RATIO, else a PNG of the
    converted (padded, downscaled) image."""
    image, data = open_image(value, field, image_dir)
    size = capped_size(image.width, image.height, max_pixels)
    if (data is not None and image.mode == "RGB" and image.format in _PASS_THROUGH_FORMATS and size == image.size
            and not too_elongated(*image.size)):
        return data
    rgb = pad_to_aspect(to_rgb(image))
    size = capped_size(rgb.width, rgb.height, max_pixels)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)  # box-reduce first: faster, same look
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
