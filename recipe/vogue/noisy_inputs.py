"""Which rows get the noisy pass, with which perturbed inputs, built when — one home for every rollout mode.

A training step's plan is made from the rows verl is about to generate, BEFORE generation:
``PlannedGeneration`` wraps verl's rollout manager, so its ``generate_sequences`` sees the step's
prompts already repeated n times in generation order (response j of prompt p is row p·n + j), with
their uid, data_source, extra_info and raw_prompt. ``plan_step`` draws the branches, names every
response (prompt identity + position in its group → perturbation seed), and starts building the probed
rows' perturbed, processed image inputs in parallel Ray tasks (one torch thread each), so they are
ready when the old-log-prob stage starts instead of being built on its critical path. The generation
output carries each row's generation index (``GENERATION_ORDER_KEY``), which survives verl's
``_balance_batch`` reordering; ``StepPlan.for_rows`` maps the plan onto the batch's current order.
Validation generations pass through untouched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from recipe.vogue.noisy_branch import (
    BranchDraw,
    NoisyBranchError,
    images_from_messages,
    perturbation_seeds,
    perturbed_pixel_inputs,
    prompt_identities,
)
from recipe.vogue.perturb import PerturbationSpec

__all__ = ["GENERATION_ORDER_KEY", "prompt_has_image", "build_noisy_pixels", "StepPlan", "plan_step",
           "PlannedGeneration"]

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


def build_noisy_pixels(jobs: Sequence[tuple[int, Any, int]], settings: BuildSettings, threads: int = 1) -> dict:
    """{row: perturbed pixel inputs} for (row, raw_prompt, seed) jobs, timed; runs in a Ray task or inline."""
    started = time.perf_counter()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # one core per builder: parallelism comes from the tasks
    try:
        built = {
            row: perturbed_pixel_inputs(images_from_messages(messages, settings.patch_size), settings.image_processor,
                                        settings.spec, seed, settings.processor_kwargs, settings.dtype)
            for row, messages, seed in jobs
        }
    finally:
        torch.set_num_threads(previous)
    return {"inputs": built, "seconds": time.perf_counter() - started}


@dataclasses.dataclass
class StepPlan:
    """One step's draws and noisy inputs, indexed by generation order."""

    step: int
    uids: np.ndarray
    draw: BranchDraw
    seeds: list[int]
    has_image: torch.Tensor
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

    def noisy_pixels(self, generation_rows: Sequence[int]) -> list[dict]:
        """The built inputs of ``generation_rows``, waiting for the builders the first time (timed)."""
        if self.pending:
            import ray

            started = time.perf_counter()
            results = [r if isinstance(r, dict) else ray.get(r) for r in self.pending]
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
) -> StepPlan:
    """Plan a step from its rows in generation order (``rows``: a DataProto with ``uid`` and ``raw_prompt``,
    optionally ``data_source``/``extra_info``): ``draw(uids, has_image)`` decides the branches; the probed
    rows' inputs are built by up to ``tasks`` Ray tasks (inline when Ray is not running)."""
    columns = rows.non_tensor_batch
    uids = np.asarray(columns["uid"], dtype=object)
    prompts = columns["raw_prompt"]
    groups = uids.reshape(-1, n) if len(uids) % n == 0 else None
    if groups is None or (groups != groups[:, :1]).any():
        raise NoisyBranchError(
            f"the step's {len(uids)} rows are not {n} responses per prompt in generation order; "
            "cannot name each response for its perturbation seed"
        )
    has_image = torch.tensor([prompt_has_image(messages) for messages in prompts], dtype=torch.bool)
    branch = draw(uids, has_image)
    slots = np.arange(0, len(uids), n)
    identities = prompt_identities(
        columns["data_source"][slots] if "data_source" in columns else None,
        columns["extra_info"][slots] if "extra_info" in columns else None,
        prompts[slots],
    )
    seeds = perturbation_seeds(seed, step, identities, np.arange(len(uids)), n)
    jobs = [(row, prompts[row], seeds[row]) for row in branch.is_probed.nonzero().flatten().tolist()]
    return StepPlan(step, uids, branch, seeds, has_image, _start_builders(jobs, settings, tasks))


def _start_builders(jobs: list, settings: BuildSettings, tasks: int) -> list:
    if not jobs:
        return []
    import ray

    if not ray.is_initialized():
        return [build_noisy_pixels(jobs, settings, threads=torch.get_num_threads())]
    builder = ray.remote(num_cpus=1)(build_noisy_pixels)
    shared = ray.put(settings)
    chunks = np.array_split(np.arange(len(jobs)), min(tasks, len(jobs)))
    return [builder.remote([jobs[i] for i in chunk], shared) for chunk in chunks]


class PlannedGeneration:
    """verl's async rollout manager, with a step plan made before every training generation.

    ``plan(gen_batch)`` receives the rows about to be generated (generation order) and returns the batch to
    generate (the same one for ``rollout_from=raw``); the output gets ``GENERATION_ORDER_KEY``. Every other
    attribute is the wrapped manager's.
    """

    def __init__(self, manager: Any, plan: Callable[[Any], Any]):
        self._manager = manager
        self._plan = plan

    def generate_sequences(self, batch):
        if batch.meta_info.get("validate", False):
            return self._manager.generate_sequences(batch)
        output = self._manager.generate_sequences(self._plan(batch))
        output.batch[GENERATION_ORDER_KEY] = torch.arange(len(output))
        return output

    def __getattr__(self, name: str):
        return getattr(self._manager, name)
