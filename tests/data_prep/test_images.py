"""Image normalisation: every mode to 8-bit RGB with the right colours, pixel cap, pass-through, errors."""

import io

import numpy as np
import pytest
from data_prep_fixtures import encode, image_in_mode
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from data_prep.errors import BadRow
from data_prep.images import MAX_ASPECT_RATIO, PADDED_ASPECT_RATIO, capped_size, to_rgb_bytes


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    "mode, expected_rgb",
    [
        ("CMYK", (255, 0, 0)),  # C=0 M=255 Y=255 K=0 is red
        ("P", (10, 200, 30)),  # palette entry 1
        ("P_transparent", (255, 255, 255)),  # transparent palette index → white background, not black
        ("RGBA", (255, 255, 255)),  # fully transparent black pixels → white, not black
        ("L", (77, 77, 77)),
    ],
)
def test_modes_become_rgb_with_the_expected_colour(mode, expected_rgb):
    image = decoded(to_rgb_bytes(image_in_mode(mode), "image"))
    assert image.mode == "RGB"
    pixels = np.asarray(image).reshape(-1, 3)
    assert np.abs(pixels.astype(int) - expected_rgb).max() <= 3


def test_sixteen_bit_grey_is_rescaled_not_clipped():
    value = 128 * 257  # mid-grey in 16 bits; clipping to 8 bits would give white
    data = encode(Image.fromarray(np.full((6, 5), value, dtype=np.uint16)))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    assert np.asarray(decoded(to_rgb_bytes(data, "image"))).reshape(-1, 3).tolist()[0] == [128, 128, 128]
    assert np.asarray(decoded(to_rgb_bytes(image_in_mode("I;16"), "image")))[0, 0].tolist() == [255, 255, 255]


def test_rgb_png_and_jpeg_within_the_cap_keep_their_bytes():
    for format in ("PNG", "JPEG"):
        data = encode(Image.new("RGB", (20, 10), (1, 2, 3)), format)
        assert to_rgb_bytes(data, "image", max_pixels=200) == data
        assert to_rgb_bytes({"bytes": data, "path": None}, "image") == data


def test_pil_images_and_relative_paths_are_accepted(tmp_path):
    (tmp_path / "sub").mkdir()
    data = encode(Image.new("RGB", (7, 5), (9, 9, 9)))
    (tmp_path / "sub" / "a.png").write_bytes(data)
    assert to_rgb_bytes("sub/a.png", "image", image_dir=str(tmp_path)) == data
    assert to_rgb_bytes({"bytes": None, "path": str(tmp_path / "sub" / "a.png")}, "image") == data
    assert decoded(to_rgb_bytes(Image.new("LA", (3, 4)), "image")).size == (3, 4)


def test_huge_images_are_downscaled_keeping_the_aspect_ratio():
    data = encode(Image.new("RGB", (4000, 1000), (0, 90, 0)))
    image = decoded(to_rgb_bytes(data, "image", max_pixels=100_000))
    assert image.size == (632, 158)  # s = sqrt(1e5 / 4e6) = 0.1581; 4000 s = 632.5, 1000 s = 158.1
    assert np.asarray(image)[50, 300].tolist() == [0, 90, 0]


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 20_000), height=st.integers(1, 20_000), max_pixels=st.integers(1, 50_000_000))
@example(width=6889, height=6889, max_pixels=6889)  # sqrt float error once gave 82 × 82
def test_capped_size_properties(width, height, max_pixels):
    new_width, new_height = capped_size(width, height, max_pixels)
    if width * height <= max_pixels:
        assert (new_width, new_height) == (width, height)
        return
    assert 1 <= new_width <= width and 1 <= new_height <= height
    if new_width > 1 and new_height > 1:  # the 1-pixel floor may exceed tiny caps on thin images
        assert new_width * new_height <= max_pixels
        # aspect ratio within one pixel of rounding on either side
        assert abs(new_width * height - new_height * width) <= max(width, height)
        # and the cap is used: one more pixel on both sides would exceed it (up to rounding)
        assert (new_width + 1) * (new_height + 1) > max_pixels


@pytest.mark.parametrize(
    "value, reason",
    [
        (None, "missing image"),
        ("", "missing image"),
        ({"bytes": None, "path": None}, "missing image"),
        (b"\x89PNG\r\n\x1a\n garbage", "corrupt image bytes"),
        (encode(Image.new("RGB", (64, 64)))[:60], "corrupt image bytes"),  # truncated PNG
        ("does/not/exist.png", "image file not found"),
        (3.5, "unsupported image value"),
    ],
)
def test_bad_images_name_the_field(value, reason, tmp_path):
    with pytest.raises(BadRow) as caught:
        to_rgb_bytes(value, "decoded_image", image_dir=str(tmp_path))
    assert (caught.value.field, caught.value.reason) == ("decoded_image", reason)
    assert "decoded_image" in str(caught.value)


def test_decompression_bombs_are_bad_rows(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BadRow, match="too large"):
        to_rgb_bytes(encode(Image.new("RGB", (40, 40))), "image")


@settings(max_examples=60, deadline=None)
@given(short=st.integers(1, 4), more=st.integers(0, 4000), tall=st.booleans(),
       max_pixels=st.one_of(st.none(), st.integers(1, 2_000_000)))
@example(short=2, more=3600, tall=False, max_pixels=None)  # the 4000×2 strip
@example(short=1, more=0, tall=False, max_pixels=None)  # exactly 200:1
@example(short=1, more=19_800, tall=True, max_pixels=150)  # a cap that floors the padded short side
def test_too_elongated_images_are_padded_below_the_limit_whatever_the_cap(short, more, tall, max_pixels):
    long = MAX_ASPECT_RATIO * short + more
    size = (short, long) if tall else (long, short)
    image = decoded(to_rgb_bytes(encode(Image.new("RGB", size, (0, 0, 0))), "image", max_pixels=max_pixels))
    assert max(image.size) < MAX_ASPECT_RATIO * min(image.size)
    if max_pixels is None:  # padded, not resized: every pixel of the strip is kept, the rest is white
        assert max(image.size) == long and min(image.size) == -(-long // PADDED_ASPECT_RATIO)
        pixels = np.asarray(image)
        assert (pixels == 0).all(axis=2).sum() == long * short
        assert (pixels == 255).all(axis=2).sum() == image.width * image.height - long * short
        across = pixels.transpose(1, 0, 2) if tall else pixels  # rows run along the strip
        offset = (len(across) - short) // 2  # centred
        assert (across[offset : offset + short] == 0).all()


def test_images_just_below_the_limit_are_kept_as_they_are():
    data = encode(Image.new("RGB", (199, 1), (5, 5, 5)))
    assert to_rgb_bytes(data, "image") == data
