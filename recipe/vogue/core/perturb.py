"""Size-preserving image perturbations for the noisy branch (METHOD.md §1) and NoisyRollout's
diffusion noise (METHOD.md §7).

Every perturbation keeps the image size, so the processor yields the same ``image_grid_thw``, the same
number of image tokens and the same M-RoPE positions: a response generated from the raw image can be
teacher-forced under the perturbed one. Pure PIL/torch; deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from recipe.vogue.core.typed_fields import check_field_types

__all__ = [
    "PerturbationSpec",
    "perturb_pixels",
    "perturb_image",
    "diffusion_noise",
    "diffusion_alpha_bar",
]


@dataclasses.dataclass(frozen=True)
class PerturbationSpec:
    """Which operations T applies and how strongly (METHOD.md §1).

    - ``hflip`` / ``vflip``: each applied with probability ``flip_prob``.
    - ``rotate``: angle ~ U(-degrees, +degrees), same canvas (no expand), corners filled black;
      ``rotate_interpolation`` ``bilinear`` (paper reading) or ``nearest`` (torchvision's
      ``RandomRotation`` default, the released code).
    - ``color_jitter``: brightness and contrast factors ~ U(1 - 0.15·s, 1 + 0.15·s), s = ``strength``;
      ``jitter_order`` ``fixed`` (brightness, then contrast) or ``random`` (either order with
      probability ½ per image, like torchvision's ``ColorJitter`` in the released code).
    - ``gaussian_noise``: x ← clip(x + N(0, (sigma·s)²), 0, 1) on [0, 1] pixels, back to uint8 by
      ``noise_quantize`` ``round`` or ``floor`` (the released code's ``astype(np.uint8)`` truncation).
    - ``images``: ``all`` images of a prompt are perturbed, or only the ``first`` (the released code).
    """

    hflip: bool = True
    vflip: bool = True
    flip_prob: float = 0.5
    rotate: bool = True
    degrees: float = 10.0
    color_jitter: bool = True
    gaussian_noise: bool = True
    sigma: float = 0.4
    strength: float = 1.0
    rotate_interpolation: str = "bilinear"
    jitter_order: str = "fixed"
    noise_quantize: str = "round"
    images: str = "all"

    CHOICES = {
        "rotate_interpolation": ("bilinear", "nearest"),
        "jitter_order": ("fixed", "random"),
        "noise_quantize": ("round", "floor"),
        "images": ("all", "first"),
    }
    JITTER_RANGE = 0.15  # brightness/contrast half-range per unit strength (METHOD.md §1)

    def __post_init__(self):
        check_field_types(self, "perturbation")
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"perturbation.{name} must be one of {list(choices)}, got {getattr(self, name)!r}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"perturbation.flip_prob must be in [0, 1], got {self.flip_prob}")
        if not 0.0 <= self.degrees <= 180.0:
            raise ValueError(f"perturbation.degrees must be in [0, 180], got {self.degrees}")
        if self.sigma < 0:
            raise ValueError(f"perturbation.sigma must be >= 0, got {self.sigma}")
        if self.strength < 0 or self.JITTER_RANGE * self.strength >= 1.0:
            raise ValueError(
                f"perturbation.strength must be in [0, {1 / self.JITTER_RANGE:.2f}) so that brightness and "
                f"contrast factors stay positive, got {self.strength}"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | PerturbationSpec | None) -> PerturbationSpec:
        """Build from a config mapping (e.g. the ``vogue.perturbation`` hydra node); unknown keys are errors."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown perturbation keys {unknown}; known keys: {sorted(known)}")
        return cls(**dict(config))

    @property
    def is_identity(self) -> bool:
        return not (
            ((self.hflip or self.vflip) and self.flip_prob > 0)
            or (self.rotate and self.degrees > 0)
            or (self.color_jitter and self.strength > 0)
            or (self.gaussian_noise and self.sigma * self.strength > 0)
        )


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


@dataclasses.dataclass(frozen=True)
class _Draws:
    hflip: bool
    vflip: bool
    angle: float
    brightness: float
    contrast: float
    noise_seed: int
    contrast_first: bool


def _draw(spec: PerturbationSpec, seed: int) -> _Draws:
    """Every random choice of T, in a fixed order (each drawn whether or not its op is enabled, the
    jitter order last, so switching an op or the order off changes no other draw)."""
    generator = torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    do_hflip = torch.rand((), generator=generator).item() < spec.flip_prob
    do_vflip = torch.rand((), generator=generator).item() < spec.flip_prob
    angle = _uniform(generator, -spec.degrees, spec.degrees)
    jitter = spec.JITTER_RANGE * spec.strength
    brightness = _uniform(generator, 1.0 - jitter, 1.0 + jitter)
    contrast = _uniform(generator, 1.0 - jitter, 1.0 + jitter)
    noise_seed = int(torch.randint(0, 2**62, (), generator=generator).item())
    contrast_first = spec.jitter_order == "random" and torch.rand((), generator=generator).item() < 0.5
    return _Draws(do_hflip, do_vflip, angle, brightness, contrast, noise_seed, contrast_first)


def _brightness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's ``adjust_brightness`` on uint8 pixels, on integer-valued floats (truncated like its cast)."""
    return x.mul_(factor).clamp_(0.0, 255.0).trunc_()


def _contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's ``adjust_contrast`` on uint8 pixels: blend with the mean of the floored grey image."""
    r, g, b = x.unbind(dim=-3)
    grey = r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).floor_().unsqueeze(-3)
    mean = grey.mean(dim=(-3, -2, -1), keepdim=True)
    return x.mul_(factor).add_(mean, alpha=1.0 - factor).clamp_(0.0, 255.0).trunc_()


def perturb_pixels(pixels: torch.Tensor, spec: PerturbationSpec | Mapping[str, Any] | None, seed: int) -> torch.Tensor:
    """T on a uint8 [3, H, W] tensor (flips → rotation → colour jitter → noise); returns uint8 [3, H, W].

    Rotation, colour jitter and noise run on ONE float copy of the pixels: the rotation and brightness and
    contrast reproduce torchvision's uint8 kernels (their roundings and truncations included), and the noise
    x ← clip(x + 255·σ·s·ε, 0, 255), rounded or floored, is the [0, 1]-scale formula
    clip(x/255 + σ·s·ε, 0, 1)·255 rescaled (at most 1 grey level apart at .5 boundaries).
    """
    spec = PerturbationSpec.from_config(spec)
    if pixels.dtype != torch.uint8 or pixels.dim() != 3 or pixels.shape[0] != 3:
        raise TypeError(f"perturb_pixels expects a uint8 [3, H, W] tensor, got {pixels.dtype} {tuple(pixels.shape)}")
    if spec.is_identity:
        return pixels.clone()
    draws = _draw(spec, seed)
    original = pixels
    if spec.hflip and draws.hflip:
        pixels = TF.horizontal_flip(pixels)
    if spec.vflip and draws.vflip:
        pixels = TF.vertical_flip(pixels)
    jitter = spec.color_jitter and spec.JITTER_RANGE * spec.strength > 0
    std = spec.sigma * spec.strength if spec.gaussian_noise else 0.0
    rotate = spec.rotate and spec.degrees > 0
    if not (rotate or jitter or std > 0):
        return pixels.clone() if pixels is original else pixels
    x = pixels.float()
    if rotate:  # on the float copy, rounded as torchvision's uint8 kernel rounds its output
        interpolation = TF.InterpolationMode(spec.rotate_interpolation)
        x = TF.rotate(x, draws.angle, interpolation=interpolation, expand=False, fill=0).round_()
    if jitter:
        adjustments = [(_brightness, draws.brightness), (_contrast, draws.contrast)]
        for adjust, factor in adjustments[::-1] if draws.contrast_first else adjustments:
            x = adjust(x, factor)
    if std > 0:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(draws.noise_seed))
        x.add_(noise, alpha=255.0 * std).clamp_(0.0, 255.0)
        x = x.floor_() if spec.noise_quantize == "floor" else x.round_()
    return x.to(torch.uint8)


def perturb_image(image: Image.Image, spec: PerturbationSpec | Mapping[str, Any] | None, seed: int) -> Image.Image:
    """``perturb_pixels`` for a PIL image: returns an RGB image of the same size as ``image``
    (non-RGB inputs are converted to RGB first); the random draws depend only on ``seed``."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"perturb_image expects a PIL image, got {type(image).__name__}")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if PerturbationSpec.from_config(spec).is_identity:
        return rgb.copy()
    return TF.to_pil_image(perturb_pixels(TF.pil_to_tensor(rgb), spec, seed))


def diffusion_alpha_bar(num_steps: int = 1000) -> torch.Tensor:
    """ᾱ_t = Π_{k≤t} (1 − β_k) with β = sigmoid(linspace(−6, 6, num_steps))·(5e−3 − 1e−5) + 1e−5 (float64)."""
    betas = torch.sigmoid(torch.linspace(-6.0, 6.0, num_steps, dtype=torch.float64)) * (5e-3 - 1e-5) + 1e-5
    return torch.cumprod(1.0 - betas, dim=0)


def diffusion_noise(image: Image.Image, step: int, seed: int, num_steps: int = 1000) -> Image.Image:
    """NoisyRollout's forward-diffusion noise: x_t = clip(√ᾱ_t·x + √(1−ᾱ_t)·ε, 0, 1), ε ~ N(0, I).

    ``step`` is t in [0, num_steps) (see ``schedule.diffusion_noise_step`` for NoisyRollout's decay of t).
    Output: RGB, same size; deterministic for a seed.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    step = int(step)
    if not 0 <= step < num_steps:
        raise ValueError(f"diffusion step must be in [0, {num_steps}), got {step}")
    alpha_bar = diffusion_alpha_bar(num_steps)[step].item()
    unit = TF.pil_to_tensor(rgb).float().div_(255.0)
    noise = torch.randn(unit.shape, generator=torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF))
    noisy = unit.mul_(math.sqrt(alpha_bar)).add_(noise, alpha=math.sqrt(1.0 - alpha_bar)).clamp_(0.0, 1.0)
    return TF.to_pil_image(noisy.mul_(255.0).round_().to(torch.uint8))
