import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from recipe.vogue.core.perturb import PerturbationSpec, diffusion_alpha_bar, diffusion_noise, perturb_image, perturb_pixels

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


def _draws(seed, degrees=10.0, jitter=0.15):
    """The draws perturb_image makes, in its documented order (flips, angle, factors, noise seed, jitter order)."""
    gen = torch.Generator().manual_seed(seed)
    hflip, vflip = torch.rand((), generator=gen).item(), torch.rand((), generator=gen).item()
    angle = -degrees + 2 * degrees * torch.rand((), generator=gen).item()
    brightness = 1 - jitter + 2 * jitter * torch.rand((), generator=gen).item()
    contrast = 1 - jitter + 2 * jitter * torch.rand((), generator=gen).item()
    noise_seed = int(torch.randint(0, 2**62, (), generator=gen).item())
    contrast_first = torch.rand((), generator=gen).item() < 0.5
    return dict(hflip=hflip, vflip=vflip, angle=angle, brightness=brightness, contrast=contrast,
                noise_seed=noise_seed, contrast_first=contrast_first)


def torchvision_composition(image, spec, seed):
    """T written with torchvision's own uint8 kernels and the [0, 1]-scale noise formula, from the same draws."""
    import torchvision.transforms.v2.functional as TF

    d = _draws(seed, spec.degrees, spec.JITTER_RANGE * spec.strength)
    x = TF.pil_to_tensor(image)
    if spec.hflip and d["hflip"] < spec.flip_prob:
        x = TF.horizontal_flip(x)
    if spec.vflip and d["vflip"] < spec.flip_prob:
        x = TF.vertical_flip(x)
    if spec.rotate:
        x = TF.rotate(x, d["angle"], interpolation=TF.InterpolationMode(spec.rotate_interpolation), fill=0)
    if spec.color_jitter:
        steps = [(TF.adjust_brightness, d["brightness"]), (TF.adjust_contrast, d["contrast"])]
        for adjust, factor in steps[::-1] if spec.jitter_order == "random" and d["contrast_first"] else steps:
            x = adjust(x, factor)
    if spec.gaussian_noise:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(d["noise_seed"]))
        unit = (x.float() / 255.0 + spec.sigma * spec.strength * noise).clamp(0, 1) * 255.0
        x = (unit.floor() if spec.noise_quantize == "floor" else unit.round()).to(torch.uint8)
    return x.permute(1, 2, 0).numpy().astype(np.int16)


@pytest.mark.parametrize("options", [{}, {"sigma": 0.2}, {"rotate_interpolation": "nearest", "jitter_order": "random",
                                                          "noise_quantize": "floor", "sigma": 0.2}])
def test_the_fused_pass_equals_torchvisions_kernels_within_one_grey_level(options):
    """One float pass for jitter + noise instead of torchvision's uint8 round trips: the jitter is exact, the
    noise (x + 255·σε instead of x/255 + σε) can move a pixel by one grey level at a .5 boundary."""
    spec = PerturbationSpec(**options)
    differing = total = 0
    for seed in range(12):
        image = pattern_image(40 + seed, 24 + 2 * seed, seed=seed)
        diff = np.abs(pixels(perturb_image(image, spec, seed)) - torchvision_composition(image, spec, seed))
        assert diff.max() <= 1, seed
        differing, total = differing + int((diff > 0).sum()), total + diff.size
    assert differing <= total * 1e-3


def test_perturb_pixels_is_perturb_image_on_tensors():
    import torchvision.transforms.v2.functional as TF

    image = pattern_image(30, 20, seed=3)
    tensor = TF.pil_to_tensor(image)
    out = perturb_pixels(tensor, PerturbationSpec(), 7)
    assert out.dtype == torch.uint8 and out.shape == tensor.shape
    assert np.array_equal(out.permute(1, 2, 0).numpy(), np.asarray(perturb_image(image, PerturbationSpec(), 7)))
    assert torch.equal(tensor, TF.pil_to_tensor(image))  # the input is not modified
    with pytest.raises(TypeError, match="uint8 \\[3, H, W\\]"):
        perturb_pixels(tensor.float(), PerturbationSpec(), 7)


@pytest.mark.parametrize("seed", range(4))
def test_nearest_rotation_is_torchvision_random_rotation(monkeypatch, seed):
    import torchvision.transforms as T

    image = pattern_image(41, 29, seed=seed)
    spec = PerturbationSpec(**{**ALL_OFF, "rotate": True, "rotate_interpolation": "nearest"})
    draws = _draws(seed)
    monkeypatch.setattr(T.RandomRotation, "get_params", staticmethod(lambda degrees: draws["angle"]))
    reference = T.RandomRotation(10)(T.functional.pil_to_tensor(image))
    assert np.array_equal(pixels(perturb_image(image, spec, seed)), reference.permute(1, 2, 0).numpy())
    bilinear = perturb_image(image, PerturbationSpec(**{**ALL_OFF, "rotate": True}), seed)
    assert not np.array_equal(pixels(bilinear), reference.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("seed", range(6))
def test_random_jitter_order_is_torchvision_color_jitter(monkeypatch, seed):
    import torchvision.transforms as T

    image = pattern_image(31, 17, seed=seed)
    spec = PerturbationSpec(**{**ALL_OFF, "color_jitter": True, "jitter_order": "random"})
    draws = _draws(seed)
    order = torch.tensor([1, 0, 2, 3] if draws["contrast_first"] else [0, 1, 2, 3])
    monkeypatch.setattr(
        T.ColorJitter, "get_params",
        staticmethod(lambda *ranges: (order, draws["brightness"], draws["contrast"], None, None)),
    )
    reference = T.ColorJitter(brightness=0.15, contrast=0.15)(T.functional.pil_to_tensor(image))
    assert np.array_equal(pixels(perturb_image(image, spec, seed)), reference.permute(1, 2, 0).numpy())


def test_random_jitter_order_uses_both_orders_and_fixed_order_never_swaps():
    orders = {_draws(seed)["contrast_first"] for seed in range(20)}
    assert orders == {True, False}
    image = pattern_image(seed=9)
    fixed = PerturbationSpec(**{**ALL_OFF, "color_jitter": True})
    swapped = [seed for seed in range(20) if _draws(seed)["contrast_first"]]
    random_order = PerturbationSpec(**{**ALL_OFF, "color_jitter": True, "jitter_order": "random"})
    assert any(not np.array_equal(pixels(perturb_image(image, fixed, s)), pixels(perturb_image(image, random_order, s)))
               for s in swapped)
    kept = [seed for seed in range(20) if not _draws(seed)["contrast_first"]]
    assert all(np.array_equal(pixels(perturb_image(image, fixed, s)), pixels(perturb_image(image, random_order, s)))
               for s in kept)


@pytest.mark.parametrize("quantize", ["round", "floor"])
def test_noise_quantization_matches_the_released_code_formula(quantize):
    image = pattern_image(33, 21, seed=4)
    spec = PerturbationSpec(**{**ALL_OFF, "gaussian_noise": True, "sigma": 0.2, "noise_quantize": quantize})
    draws = _draws(5)
    noise = torch.randn((3, 21, 33), generator=torch.Generator().manual_seed(draws["noise_seed"]))
    unit = np.asarray(image, dtype=np.float64) / 255.0 + 0.2 * noise.permute(1, 2, 0).double().numpy()
    scaled = np.clip(unit, 0, 1) * 255
    reference = scaled.astype(np.uint8) if quantize == "floor" else np.round(scaled).astype(np.uint8)  # numpy's truncation
    got = pixels(perturb_image(image, spec, 5))
    assert np.abs(got - reference.astype(np.int16)).max() <= 1  # float32 vs float64 at the quantisation boundary
    assert (got == reference).mean() > 0.999


def test_new_options_are_validated():
    for field in ("rotate_interpolation", "jitter_order", "noise_quantize", "images"):
        with pytest.raises(ValueError, match=f"perturbation.{field} must be one of"):
            PerturbationSpec(**{field: "sideways"})
    with pytest.raises(ValueError, match="perturbation.hflip must be true or false, got 'false'"):
        PerturbationSpec(hflip="false")
    with pytest.raises(ValueError, match="perturbation.sigma must be finite"):
        PerturbationSpec(sigma=float("nan"))
    with pytest.raises(ValueError, match="perturbation.strength must be a number"):
        PerturbationSpec(strength=True)
