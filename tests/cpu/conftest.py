import os
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


@pytest.fixture(scope="session")
def two_image_assets(tiny_assets, tmp_path_factory):
    """(data_dir, model_dir): prompts with 2 images each — a synthetic example's picture, then another
    example's as a distractor (the question is about the first) — in data_prep's row format, with the main
    job's tiny model."""
    from data_prep.io import write_parquet_atomic
    from data_prep.rows import build_row
    from data_prep.synthetic import DATA_SOURCE, make_example

    data_dir = str(tmp_path_factory.mktemp("two_image_data"))
    for split, count in (("train", 16), ("val", 4)):
        rng = random.Random(f"two-images-{split}")
        rows = []
        for index in range(count):
            image, question, answer, meta = make_example(rng)
            distractor = make_example(rng)[0]
            rows.append(build_row(DATA_SOURCE, split, index, "<image><image>" + question, [image, distractor], answer,
                                  "text", extra=meta))
        write_parquet_atomic(rows, os.path.join(data_dir, f"{split}.parquet"))
    return data_dir, tiny_assets[1]


@pytest.fixture(scope="session")
def audited_vogue_run(tmp_path_factory):
    """``run(name, assets, steps, overrides, **train_kwargs)`` → (the step records, the audit dir, the log's
    text): VOGUE through verl's own loop on the CPU backend with ``vogue.audit_dir`` set, in a work dir of its own."""
    from recipe.vogue.cpu import tiny_run

    def run(name, assets, steps, overrides, **train_kwargs):
        data_dir, model_dir = assets
        work_dir = str(tmp_path_factory.mktemp(name))
        audit_dir, log_path = os.path.join(work_dir, "audit"), os.path.join(work_dir, "train.log")
        records = tiny_run.train("vogue", data_dir, model_dir, work_dir, steps, [*overrides, f"vogue.audit_dir={audit_dir}"],
                                 os.path.join(work_dir, "metrics.jsonl"), log_path, **{"timeout": 1200, **train_kwargs})
        with open(log_path) as log:
            return [r for r in records if "timing_s/step" in r["data"]], audit_dir, log.read()

    return run
