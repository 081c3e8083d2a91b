import random

import pytest


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
