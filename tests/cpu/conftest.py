import io
import random

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random (not warm-started) tiny Qwen2.5-VL saved like a hub checkpoint."""
    from recipe.vogue import tiny

    out = tmp_path_factory.mktemp("tiny_model")
    tiny.build(str(out), seed=0)
    return str(out)


@pytest.fixture(scope="session")
def tiny_qwen3_vl_model_dir(tmp_path_factory):
    """A random (not warm-started) tiny Qwen3-VL (16-px patches, Qwen3VLProcessor) saved like a hub checkpoint."""
    from recipe.vogue import tiny

    out = tmp_path_factory.mktemp("tiny_qwen3_vl_model")
    tiny.build(str(out), seed=0, arch="qwen3_vl")
    return str(out)


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory):
    """(data_dir, model_dir): the synthetic task and the warm-started tiny model of the main job, built
    once per test session and shared by every end-to-end module (each writes its own work dir)."""
    from recipe.vogue.cpu import tiny_run

    return tiny_run.ensure_assets(str(tmp_path_factory.mktemp("tiny_assets")), seed=0)


@pytest.fixture(scope="session")
def shape_images():
    from data_prep.synthetic import make_example

    rng = random.Random(0)
    return [make_example(rng)[0] for _ in range(6)]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
