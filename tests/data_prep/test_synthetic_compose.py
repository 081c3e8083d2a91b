"""The ``compose`` perception task (issue 23): the answer needs the image, a uniform guesser is far from
every pass@k that matters, and every perturbation VOGUE and NoisyRollout apply leaves the answer in the
image (flips, rotations and colour jitter: the reference reader still reads it; noise: every shape keeps
its colour and stands out of the background)."""

import itertools
import math
import random
from collections import Counter

import pyarrow.parquet as pq
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from compose_reader import HUES, NAMES, coloured_pixels, read, regions

from data_prep import synthetic
from data_prep.synthetic import COLOURS, COMPOSE_ANSWERS, COMPOSE_QUESTION, SHAPES, compose_layout, make_compose_example
from recipe.vogue.core.perturb import diffusion_noise, perturb_image
from recipe.vogue.evaluation.metrics import guesser_pass_at_k

EXAMPLES = 300
NO_NOISE = {"gaussian_noise": False}
GEOMETRY_AND_COLOUR = {  # the presets' T without the noise, every random draw on (flips with p = 0.5)
    "paper": NO_NOISE,
    "authors_code": {**NO_NOISE, "rotate_interpolation": "nearest", "jitter_order": "random"},
}
NOISE_ONLY = {"hflip": False, "vflip": False, "rotate": False, "color_jitter": False}
NOISES = {  # the strongest noise each method applies
    "paper sigma 0.4": lambda image, seed: perturb_image(image, {**NOISE_ONLY, "sigma": 0.4}, seed),
    "authors_code sigma 0.2, floor": lambda image, seed: perturb_image(
        image, {**NOISE_ONLY, "sigma": 0.2, "noise_quantize": "floor"}, seed),
    "NoisyRollout geo3k step 500": lambda image, seed: diffusion_noise(image, 500, seed),
    "NoisyRollout k12 step 450": lambda image, seed: diffusion_noise(image, 450, seed),
}
MIN_SEPARATION = 5.0  # standard errors between a shape's mean colour and the background's (measured ≥ 6.8)


def examples(seed: int = 0, count: int = EXAMPLES):
    rng = random.Random(seed)
    return [make_compose_example(rng) for _ in range(count)]


def test_the_question_names_no_answer_and_no_candidate():
    words = set(COMPOSE_QUESTION.lower().replace(",", " ").replace("?", " ").split())
    assert not words & (set(COLOURS) | set(SHAPES) | {"one", "two", "three"})
    assert not any(character.isdigit() for character in COMPOSE_QUESTION)


def test_36_answers_drawn_equally_often():
    assert len(set(COMPOSE_ANSWERS)) == len(COMPOSE_ANSWERS) == 36
    counts = Counter(make_compose_example(random.Random(f"draw-{i}"))[2] for i in range(3600))
    assert set(counts) == set(COMPOSE_ANSWERS)
    assert 60 <= min(counts.values()) and max(counts.values()) <= 140  # 100 expected each


def test_a_uniform_guesser_has_pass_at_8_below_0_30():
    assert guesser_pass_at_k([len(COMPOSE_ANSWERS)], 8) == pytest.approx(1 - (35 / 36) ** 8)
    assert guesser_pass_at_k([len(COMPOSE_ANSWERS)], 8) <= 0.30


def test_guesser_pass_at_k_is_the_chance_that_k_guesses_hold_the_answer():
    """Against brute force: every sequence of k guesses among K answers, equally likely."""
    for answers, k in ((3, 1), (3, 3), (4, 2), (5, 3)):
        sequences = list(itertools.product(range(answers), repeat=k))
        hits = sum(0 in sequence for sequence in sequences)
        assert guesser_pass_at_k([answers], k) == pytest.approx(hits / len(sequences))
    assert guesser_pass_at_k([2, 4], 1) == pytest.approx((1 / 2 + 1 / 4) / 2)
    with pytest.raises(ValueError):
        guesser_pass_at_k([0], 2)


def test_shapes_lie_inside_the_rotation_disk_and_apart():
    rng, size = random.Random(1), 84
    centre, radius = (size - 1) / 2, size / 2 - synthetic.COMPOSE_MARGIN
    for _ in range(EXAMPLES):
        count, _, _, boxes = compose_layout(rng, size)
        assert len(boxes) == count
        for left, top, right, bottom in boxes:
            assert all(math.hypot(x - centre, y - centre) <= radius for x in (left, right) for y in (top, bottom))
        for a, b in itertools.combinations(boxes, 2):
            assert max(a[0] - b[2], b[0] - a[2], a[1] - b[3], b[1] - a[3]) > synthetic.COMPOSE_GAP


def test_the_reference_reader_reads_every_clean_image():
    assert all(read(image) == answer for image, _, answer, _ in examples())


@pytest.mark.parametrize("preset", sorted(GEOMETRY_AND_COLOUR))
def test_flips_rotations_and_colour_jitter_keep_the_answer(preset):
    for seed, (image, _, answer, _) in enumerate(examples(seed=2)):
        assert read(perturb_image(image, GEOMETRY_AND_COLOUR[preset], seed)) == answer, (preset, seed)


def test_an_answer_about_position_would_not_survive_a_flip():
    """The check has teeth: "which half holds more of the colour?" is an answer a flip changes, so a task
    asking where a shape is could not be used with these perturbations."""
    flip = {**NO_NOISE, "rotate": False, "color_jitter": False, "vflip": False, "flip_prob": 1.0}

    def left_heavy(picture) -> bool:
        coloured = coloured_pixels(picture)[0]
        return int(coloured[:, : picture.width // 2].sum()) > int(coloured[:, picture.width // 2 :].sum())

    changed = [left_heavy(image) != left_heavy(perturb_image(image, flip, seed))
               for seed, (image, *_) in enumerate(examples(seed=4, count=50))]
    assert sum(changed) >= 45


@pytest.mark.parametrize("noise", sorted(NOISES))
def test_noise_leaves_every_shape_its_colour_and_out_of_the_background(noise):
    palette = HUES - HUES.mean(-1, keepdim=True)
    for seed, (image, _, answer, _) in enumerate(examples(seed=3, count=200)):
        colour = NAMES.index(answer.split()[1])
        coloured, hue = coloured_pixels(image)
        shapes = regions(coloured & (hue == colour))
        assert len(shapes) == int(answer.split()[0])
        noisy = TF.pil_to_tensor(NOISES[noise](image, seed)).float().permute(1, 2, 0)
        background = noisy[~coloured]
        for region in shapes:
            ys, xs = zip(*region)
            values = noisy[list(ys), list(xs)]
            mean = values.mean(0)
            assert int(torch.cdist((mean - mean.mean())[None], palette).argmin()) == colour, (noise, seed)
            error = math.sqrt(float(values.var(0).sum()) / len(values) + float(background.var(0).sum()) / len(background))
            assert float((mean - background.mean(0)).norm()) / error >= MIN_SEPARATION, (noise, seed)


def test_the_cli_writes_the_compose_task(tmp_path):
    assert synthetic.main(["--out-dir", str(tmp_path), "--task", "compose", "--train", "6", "--val", "4"]) == 0
    rows = pq.read_table(tmp_path / "val.parquet").to_pylist()
    assert len(rows) == 4 and {row["data_source"] for row in rows} == {"synthetic_compose"}
    assert all(row["reward_model"]["ground_truth"] in COMPOSE_ANSWERS for row in rows)
    assert all(COMPOSE_QUESTION in row["prompt"][0]["content"] for row in rows)
    with pytest.raises(ValueError, match="unknown synthetic task"):
        synthetic.make_rows("val", 1, seed=0, task="digits")


def test_the_main_jobs_task_is_unchanged():
    """The default task and its vocabulary are what the main job and its committed numbers used."""
    rows = synthetic.make_rows("val", 3, seed=0)
    assert {row["data_source"] for row in rows} == {"synthetic_shapes"}
    assert synthetic.vocabulary_text() == synthetic.vocabulary_text("shapes")
    assert COMPOSE_QUESTION not in synthetic.vocabulary_text()
