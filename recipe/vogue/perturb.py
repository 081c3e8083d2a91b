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

from recipe.vogue.typed_fields import check_field_types

__all__ = [
    "PerturbationSpec",
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


def perturb_image(image: Image.Image, spec: PerturbationSpec | Mapping[str, Any] | None, seed: int) -> Image.Image:
    """Apply a random size-preserving composition T (flips → rotation → colour jitter → noise).

    Returns an RGB image of the same size as ``image`` (non-RGB inputs are converted to RGB first).
    The random draws depend only on ``seed``; every draw is made whether or not its op is enabled, so
    switching one op off does not change the others' randomness. The jitter-order draw comes last, so
    the other draws (and every ``jitter_order=fixed`` output) are those of the earlier versions.
    """
    spec = PerturbationSpec.from_config(spec)
    if not isinstance(image, Image.Image):
        raise TypeError(f"perturb_image expects a PIL image, got {type(image).__name__}")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if spec.is_identity:
        return rgb.copy()

    generator = torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    do_hflip = torch.rand((), generator=generator).item() < spec.flip_prob
    do_vflip = torch.rand((), generator=generator).item() < spec.flip_prob
    angle = _uniform(generator, -spec.degrees, spec.degrees)
    jitter = spec.JITTER_RANGE * spec.strength
    brightness = _uniform(generator, 1.0 - jitter, 1.0 + jitter)
    contrast = _uniform(generator, 1.0 - jitter, 1.0 + jitter)
    noise_seed = int(torch.randint(0, 2**62, (), generator=generator).item())
    contrast_first = spec.jitter_order == "random" and torch.rand((), generator=generator).item() < 0.5

    pixels = TF.pil_to_tensor(rgb)  # uint8 [3, H, W]
    if spec.hflip and do_hflip:
        pixels = TF.horizontal_flip(pixels)
    if spec.vflip and do_vflip:
        pixels = TF.vertical_flip(pixels)
    if spec.rotate and spec.degrees > 0:
        interpolation = TF.InterpolationMode(spec.rotate_interpolation)
        pixels = TF.rotate(pixels, angle, interpolation=interpolation, expand=False, fill=0)
    if spec.color_jitter and jitter > 0:
        adjustments = [(TF.adjust_brightness, brightness), (TF.adjust_contrast, contrast)]
        for adjust, factor in adjustments[::-1] if contrast_first else adjustments:
            pixels = adjust(pixels, factor)
    std = spec.sigma * spec.strength
    if spec.gaussian_noise and std > 0:
        unit = pixels.float().div_(255.0)
        noise = torch.randn(unit.shape, generator=torch.Generator().manual_seed(noise_seed))
        unit.add_(noise, alpha=std).clamp_(0.0, 1.0)
        unit.mul_(255.0)
        pixels = (unit.floor_() if spec.noise_quantize == "floor" else unit.round_()).to(torch.uint8)
    return TF.to_pil_image(pixels)


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
