"""Which rows get the paired pass, with which image inputs, built when — one home for every rollout mode.

A training step's plan is made from the rows verl is about to generate, BEFORE generation:
``PlannedGeneration`` wraps verl's rollout manager, so its ``generate_sequences`` sees the step's
prompts already repeated n times in generation order (response j of prompt p is row p·n + j), with
their uid, data_source, extra_info and raw_prompt. ``plan_step`` draws the branches, names every
response (prompt identity + position in its group → perturbation seed), and starts building the probed
rows' paired inputs (the perturbed image's for a row generated from the raw one; the raw image's for a
row generated from T(image)) in parallel Ray tasks (one torch thread each), so they are ready when the
old-log-prob stage starts instead of being built on its critical path. ``generation_images`` builds
the images some modes generate from (T(image), or NoisyRollout's diffusion noise) the same way, before
generation. The generation output carries each row's generation index (``GENERATION_ORDER_KEY``),
which survives verl's ``_balance_batch`` reordering; ``StepPlan.for_rows`` maps the plan onto the
batch's current order. Validation generations pass through untouched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from recipe.vogue.core.noisy_branch import (
    BranchDraw,
    NoisyBranchError,
    images_from_messages,
    perturbation_seeds,
    perturbed_pixel_inputs,
    prompt_identities,
    stable_seed,
)
from recipe.vogue.core.perturb import PerturbationSpec, diffusion_noise, perturb_image

__all__ = ["GENERATION_ORDER_KEY", "IDENTITY", "prompt_has_image", "response_seeds", "build_paired_pixels",
           "build_generation_images", "generation_images", "StepPlan", "plan_step", "PlannedGeneration"]

# The "perturbation" of a row generated from T(image): its paired pass is under the raw image.
IDENTITY = PerturbationSpec(hflip=False, vflip=False, rotate=False, color_jitter=False, gaussian_noise=False)

# [B] int64 in the generation output: each row's index in generation order (before _balance_batch).
GENERATION_ORDER_KEY = "vogue_generation_order"


def prompt_has_image(messages: Any) -> bool:
    """Whether a chat prompt (verl's ``raw_prompt``) holds an image content item."""
    return any(
        isinstance(item, Mapping) and item.get("type") == "image"
        for message in messages if isinstance(message, Mapping)
        for item in (message.get("content") if isinstance(message.get("content"), list) else [])
    )


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """What a builder needs besides the rows (pickled once per task)."""

    image_processor: Any
    spec: PerturbationSpec
    patch_size: int
    processor_kwargs: dict
    dtype: torch.dtype | None


def _pinned(function: Callable, threads: int):
    """Run ``function()`` with ``threads`` torch threads (one per builder: parallelism comes from the tasks)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return function()
    finally:
        torch.set_num_threads(previous)


def build_paired_pixels(jobs: Sequence[tuple[int, Any, int, PerturbationSpec]], settings: BuildSettings,
                        threads: int = 1) -> dict:
    """{row: paired pixel inputs} for (row, raw_prompt, seed, spec) jobs, timed; runs in a Ray task or inline."""
    started = time.perf_counter()
    built = _pinned(lambda: {
        row: perturbed_pixel_inputs(images_from_messages(messages, settings.patch_size), settings.image_processor,
                                    spec, seed, settings.processor_kwargs, settings.dtype)
        for row, messages, seed, spec in jobs
    }, threads)
    return {"inputs": built, "seconds": time.perf_counter() - started}


def build_generation_images(jobs: Sequence[tuple[int, Any, int]], settings: BuildSettings, diffusion_step: int | None,
                            threads: int = 1) -> dict:
    """{row: images to generate from}: T(image) with the row's seed (``settings.spec``; only the first image
    with ``images: first``), or NoisyRollout's diffusion noise at step t = ``diffusion_step`` on every image."""
    def transform(k: int, image, seed: int):
        if diffusion_step is not None:
            return diffusion_noise(image, diffusion_step, stable_seed("diffusion", seed, k))
        if k == 0 or settings.spec.images == "all":
            return perturb_image(image, settings.spec, stable_seed("image", seed, k))
        return image

    started = time.perf_counter()
    images = _pinned(lambda: {
        row: [transform(k, image, seed) for k, image in enumerate(images_from_messages(messages, settings.patch_size))]
        for row, messages, seed in jobs
    }, threads)
    return {"images": images, "seconds": time.perf_counter() - started}


def _start(function: Callable, jobs: list, settings: BuildSettings, tasks: int, **kwargs) -> list:
    """``function`` over ``jobs`` in up to ``tasks`` Ray tasks (one CPU each), or inline when Ray is not running."""
    if not jobs:
        return []
    import ray

    if not ray.is_initialized():
        return [function(jobs, settings, threads=torch.get_num_threads(), **kwargs)]
    task = ray.remote(num_cpus=1)(function)
    shared = ray.put(settings)
    return [task.remote([jobs[i] for i in chunk], shared, **kwargs)
            for chunk in np.array_split(np.arange(len(jobs)), min(tasks, len(jobs)))]


def _collect(pending: list) -> list[dict]:
    import ray

    return [result if isinstance(result, dict) else ray.get(result) for result in pending]


def response_seeds(rows: Any, step: int, n: int, seed: int) -> list[int]:
    """Every row's perturbation seed (``noisy_branch.perturbation_seeds``), the rows in generation order;
    checks that they are n responses per prompt."""
    columns = rows.non_tensor_batch
    uids = np.asarray(columns["uid"], dtype=object)
    groups = uids.reshape(-1, n) if len(uids) % n == 0 else None
    if groups is None or (groups != groups[:, :1]).any():
        raise NoisyBranchError(
            f"the step's {len(uids)} rows are not {n} responses per prompt in generation order; "
            "cannot name each response for its perturbation seed"
        )
    slots = np.arange(0, len(uids), n)
    identities = prompt_identities(
        columns["data_source"][slots] if "data_source" in columns else None,
        columns["extra_info"][slots] if "extra_info" in columns else None,
        columns["raw_prompt"][slots],
    )
    return perturbation_seeds(seed, step, identities, np.arange(len(uids)), n)


def generation_images(rows: Any, generated: Sequence[int], seeds: Sequence[int], settings: BuildSettings, tasks: int,
                      diffusion_step: int | None = None) -> tuple[dict[int, list], float]:
    """The images rows ``generated`` are generated from (built in parallel, BEFORE generation: the rollout
    needs them), and the seconds it took to build them."""
    prompts = rows.non_tensor_batch["raw_prompt"]
    started = time.perf_counter()
    images = {}
    for result in _collect(_start(build_generation_images, [(row, prompts[row], seeds[row]) for row in generated],
                                  settings, tasks, diffusion_step=diffusion_step)):
        images.update(result["images"])
    return images, time.perf_counter() - started


@dataclasses.dataclass
class StepPlan:
    """One step's draws and noisy inputs, indexed by generation order."""

    step: int
    uids: np.ndarray
    draw: BranchDraw
    seeds: list[int]
    has_image: torch.Tensor
    generated_noisy: torch.Tensor  # [rows] generated from T(image) (noisy_branch, paper_two_groups)
    pending: list  # Ray object refs, or finished builder results
    built: dict = dataclasses.field(default_factory=dict)
    wait_seconds: float = 0.0
    build_seconds: float = 0.0

    def for_rows(self, order: np.ndarray, uids: np.ndarray) -> BranchDraw:
        """The draw in the batch's current order (``order[row]`` = its generation index), checked against the
        rows' uids: a plan applied to other rows would perturb the wrong responses."""
        if len(order) != len(self.uids) or not np.array_equal(self.uids[order], uids):
            raise NoisyBranchError(
                f"step {self.step}: the batch's rows are not the {len(self.uids)} rows planned before generation"
            )
        index = torch.as_tensor(order)
        return BranchDraw(self.draw.is_noisy[index], self.draw.is_monitor[index], self.draw.probability)

    def paired_pixels(self, generation_rows: Sequence[int]) -> list[dict]:
        """The built paired inputs of ``generation_rows``, waiting for the builders the first time (timed)."""
        if self.pending:
            started = time.perf_counter()
            results = _collect(self.pending)
            self.wait_seconds += time.perf_counter() - started
            for result in results:
                self.built.update(result["inputs"])
                self.build_seconds += result["seconds"]
            self.pending = []
        return [self.built[int(row)] for row in generation_rows]


def plan_step(
    rows: Any,
    step: int,
    n: int,
    seed: int,
    draw: Callable[[np.ndarray, torch.Tensor], BranchDraw],
    settings: BuildSettings,
    tasks: int,
    noisy_generation: bool = False,
) -> StepPlan:
    """Plan a step from its rows in generation order (``rows``: a DataProto with ``uid`` and ``raw_prompt``,
    optionally ``data_source``/``extra_info``): ``draw(uids, has_image)`` decides the branches; with
    ``noisy_generation`` the noisy-branch rows are generated from T(image), so their paired pass is under the
    raw image (``IDENTITY``). The paired inputs are built by up to ``tasks`` Ray tasks (inline without Ray)."""
    uids = np.asarray(rows.non_tensor_batch["uid"], dtype=object)
    seeds = response_seeds(rows, step, n, seed)
    prompts = rows.non_tensor_batch["raw_prompt"]
    has_image = torch.tensor([prompt_has_image(messages) for messages in prompts], dtype=torch.bool)
    branch = draw(uids, has_image)
    generated_noisy = branch.is_noisy.clone() if noisy_generation else torch.zeros_like(branch.is_noisy)
    jobs = [(row, prompts[row], seeds[row], IDENTITY if generated_noisy[row] else settings.spec)
            for row in branch.is_probed.nonzero().flatten().tolist()]
    return StepPlan(step, uids, branch, seeds, has_image, generated_noisy,
                    _start(build_paired_pixels, jobs, settings, tasks))


class PlannedGeneration:
    """verl's async rollout manager, with each training generation made by ``generate(manager, rows)`` (the
    trainer's mode: plan the step, then generate as the mode says; it returns one row per input row) and the
    generation index stamped on its output. Validation and every other attribute are the manager's."""

    def __init__(self, manager: Any, generate: Callable[[Any, Any], Any]):
        self._manager = manager
        self._generate = generate

    def generate_sequences(self, batch):
        if batch.meta_info.get("validate", False):
            return self._manager.generate_sequences(batch)
        output = self._generate(self._manager, batch)
        output.batch[GENERATION_ORDER_KEY] = torch.arange(len(output))
        return output

    def __getattr__(self, name: str):
        return getattr(self._manager, name)
