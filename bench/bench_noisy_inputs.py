"""Cost of one probed response's noisy inputs: perturbation + processor re-run, before vs after the fused path.

    .venv/bin/python bench/bench_noisy_inputs.py [--repeats 30] [--size 644x476]

"before": torchvision's uint8 kernels one op at a time (each colour op converts uint8 → float → uint8),
then the processor on a PIL image (the path until the single-pass rewrite). "after": ``perturb_pixels``
(colour jitter and noise in one float pass) and the processor on the uint8 tensor
(``noisy_branch.perturbed_pixel_inputs``). One torch thread, pinned to one core, the two variants
interleaved; then the same with a busy process on the same core (the contended case). Prints the median
per image and the ratio, with the load average.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.core.noisy_branch import perturbed_pixel_inputs, stable_seed  # noqa: E402
from recipe.vogue.core.perturb import PerturbationSpec  # noqa: E402


def before(image, processor, spec, seed):
    """The previous path: torchvision kernels op by op on uint8, PIL round trip, processor on PIL."""
    import torchvision.transforms.v2.functional as TF

    generator = torch.Generator().manual_seed(stable_seed("image", seed, 0))
    flips = [torch.rand((), generator=generator).item() < spec.flip_prob for _ in range(2)]
    angle = -spec.degrees + 2 * spec.degrees * torch.rand((), generator=generator).item()
    factors = [0.85 + 0.3 * torch.rand((), generator=generator).item() for _ in range(2)]
    noise_seed = int(torch.randint(0, 2**62, (), generator=generator).item())
    x = TF.pil_to_tensor(image)
    x = TF.horizontal_flip(x) if flips[0] else x
    x = TF.vertical_flip(x) if flips[1] else x
    x = TF.rotate(x, angle, interpolation=TF.InterpolationMode.BILINEAR, fill=0)
    x = TF.adjust_contrast(TF.adjust_brightness(x, factors[0]), factors[1])
    unit = x.float().div_(255.0)
    unit.add_(torch.randn(unit.shape, generator=torch.Generator().manual_seed(noise_seed)), alpha=spec.sigma)
    x = unit.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    return processor(images=[TF.to_pil_image(x)], return_tensors="pt")["pixel_values"]


def after(image, processor, spec, seed):
    return perturbed_pixel_inputs([image], processor, spec, seed)["pixel_values"]


def _busy(stop):
    os.sched_setaffinity(0, {0})
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def measure(image, processor, spec, repeats):
    times = {"before": [], "after": []}
    for seed in range(repeats):  # interleaved: before, after, before, after ...
        for name, function in (("before", before), ("after", after)):
            started = time.perf_counter()
            function(image, processor, spec, seed)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--size", default="644x476")
    args = parser.parse_args()
    from PIL import Image
    from transformers import Qwen2VLImageProcessor

    os.sched_setaffinity(0, {0})
    torch.set_num_threads(1)
    width, height = (int(v) for v in args.size.split("x"))
    width, height = width // 28 * 28, height // 28 * 28  # as qwen_vl_utils resizes it before the processor
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
    processor, spec = Qwen2VLImageProcessor(), PerturbationSpec()
    measure(image, processor, spec, 3)  # warm-up
    print(f"{width}×{height} image ({width * height / 1e6:.2f} MP), one torch thread on core 0, "
          f"median of {args.repeats}, variants interleaved; load average {os.getloadavg()[0]:.2f}")
    idle = measure(image, processor, spec, args.repeats)
    stop = multiprocessing.Event()
    hog = multiprocessing.Process(target=_busy, args=(stop,))
    hog.start()
    try:
        contended = measure(image, processor, spec, args.repeats)
    finally:
        stop.set()
        hog.join()
    for label, result in (("idle core", idle), ("core shared with a busy process", contended)):
        print(f"{label}: before {result['before']:.1f} ms, after {result['after']:.1f} ms per image, "
              f"ratio after/before {result['after'] / result['before']:.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
