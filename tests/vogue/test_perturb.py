import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from recipe.vogue.perturb import PerturbationSpec, diffusion_alpha_bar, diffusion_noise, perturb_image

ALL_OFF = dict(hflip=False, vflip=False, rotate=False, color_jitter=False, gaussian_noise=False)


def pattern_image(width=37, height=23, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


def pixels(image):
    return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize("size", [(37, 23), (1, 1), (224, 224), (15, 300)])
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK"])
def test_keeps_size_and_returns_rgb(size, mode):
    image = pattern_image(*size).convert(mode)
    out = perturb_image(image, PerturbationSpec(), seed=3)
    assert out.size == image.size and out.mode == "RGB"


def test_deterministic_per_seed_and_different_across_seeds():
    image = pattern_image()
    spec = PerturbationSpec(sigma=0.2)
    first, again = perturb_image(image, spec, seed=11), perturb_image(image, spec, seed=11)
    assert np.array_equal(pixels(first), pixels(again))
    outputs = [pixels(perturb_image(image, spec, seed=s)) for s in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.array_equal(outputs[i], outputs[j])
    assert not np.array_equal(outputs[0], pixels(image))


def test_identity_when_every_op_is_off():
    image = pattern_image()
    for spec in (PerturbationSpec(**ALL_OFF), PerturbationSpec(sigma=0.0, degrees=0.0, strength=0.0, flip_prob=0.0)):
        assert spec.is_identity
        out = perturb_image(image, spec, seed=5)
        assert np.array_equal(pixels(out), pixels(image)) and out is not image


def test_flips_alone_match_pil():
    image = pattern_image()
    h_only = PerturbationSpec(**{**ALL_OFF, "hflip": True, "flip_prob": 1.0})
    v_only = PerturbationSpec(**{**ALL_OFF, "vflip": True, "flip_prob": 1.0})
    assert np.array_equal(pixels(perturb_image(image, h_only, 0)), pixels(ImageOps.mirror(image)))
    assert np.array_equal(pixels(perturb_image(image, v_only, 0)), pixels(ImageOps.flip(image)))


def test_rotation_stays_on_canvas_and_within_degrees():
    white = Image.new("RGB", (64, 64), (255, 255, 255))
    spec = PerturbationSpec(**{**ALL_OFF, "rotate": True, "degrees": 10.0})
    black_fractions = []
    for seed in range(20):
        out = pixels(perturb_image(white, spec, seed))
        assert out.shape == (64, 64, 3)
        black_fractions.append(float((out.sum(-1) < 30).mean()))
    # a rotation of |θ| ≤ 10° uncovers at most ~tan(10°) of a square canvas' area, and some seeds rotate
    assert max(black_fractions) < math.tan(math.radians(10.0)) and max(black_fractions) > 0


def test_colour_jitter_factors_stay_in_range():
    grey = Image.new("RGB", (16, 16), (100, 100, 100))  # contrast leaves a uniform image unchanged
    spec = PerturbationSpec(**{**ALL_OFF, "color_jitter": True, "strength": 1.0})
    ratios = [pixels(perturb_image(grey, spec, s)).mean() / 100 for s in range(200)]
    assert 0.85 - 0.01 <= min(ratios) < 0.9 and 1.1 < max(ratios) <= 1.15 + 0.01


def test_gaussian_noise_has_the_configured_std():
    grey = Image.new("RGB", (128, 128), (128, 128, 128))
    spec = PerturbationSpec(**{**ALL_OFF, "gaussian_noise": True, "sigma": 0.05, "strength": 2.0})
    diff = (pixels(perturb_image(grey, spec, 1)) - 128) / 255.0
    assert abs(diff.std() - 0.1) < 0.005 and abs(diff.mean()) < 0.005


def test_spec_from_config_validates():
    assert PerturbationSpec.from_config({"sigma": 0.2}).sigma == 0.2
    assert PerturbationSpec.from_config(None) == PerturbationSpec()
    with pytest.raises(ValueError, match="unknown perturbation keys \\['sigmaa'\\]"):
        PerturbationSpec.from_config({"sigmaa": 0.2})
    with pytest.raises(ValueError, match="sigma"):
        PerturbationSpec(sigma=-0.1)
    with pytest.raises(ValueError, match="degrees"):
        PerturbationSpec(degrees=400)
    with pytest.raises(ValueError, match="strength"):
        PerturbationSpec(strength=7.0)
    with pytest.raises(TypeError, match="PIL image"):
        perturb_image(np.zeros((4, 4, 3)), None, 0)


def test_diffusion_alpha_bar_hand_computed():
    alpha_bar = diffusion_alpha_bar()
    beta_0 = 1 / (1 + math.exp(6)) * (5e-3 - 1e-5) + 1e-5
    assert alpha_bar[0].item() == pytest.approx(1 - beta_0, rel=1e-12)
    assert alpha_bar.shape == (1000,) and (alpha_bar[1:] < alpha_bar[:-1]).all()


def test_diffusion_noise_matches_forward_process_statistics():
    step = 150
    alpha_bar = diffusion_alpha_bar()[step].item()
    grey = Image.new("RGB", (128, 128), (128, 128, 128))
    noisy = pixels(diffusion_noise(grey, step, seed=2)) / 255.0
    assert noisy.shape == (128, 128, 3)
    assert abs(noisy.mean() - math.sqrt(alpha_bar) * 128 / 255) < 0.005
    assert abs(noisy.std() - math.sqrt(1 - alpha_bar)) < 0.01
    assert np.array_equal(pixels(diffusion_noise(grey, step, seed=2)), pixels(diffusion_noise(grey, step, seed=2)))
    with pytest.raises(ValueError, match="diffusion step"):
        diffusion_noise(grey, 1000, seed=0)


def test_noise_goes_through_torch_generator_not_global_state():
    image = pattern_image()
    torch.manual_seed(0)
    first = pixels(perturb_image(image, PerturbationSpec(), seed=9))
    torch.manual_seed(123)
    second = pixels(perturb_image(image, PerturbationSpec(), seed=9))
    assert np.array_equal(first, second)
