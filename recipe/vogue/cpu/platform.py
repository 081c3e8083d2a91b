"""verl platform "cpu": lets verl 0.9.1's trainer, engine workers and FSDP2 engine run without a GPU.

Selected with ``VERL_PLATFORM=cpu``; registered in every process by ``recipe.vogue.cpu`` (a
``verl.plugins`` entry point). It is never auto-detected: ``is_platform_available`` is False, so a
GPU machine keeps verl's CUDA platform.

Shims, each relying on one verl internal (see docs/cpu_backend.md):
- ``PlatformCPU`` subclasses ``verl.plugin.platform.PlatformBase`` and is registered through
  ``PlatformRegistry.register``. Its Ray resource stays "GPU": verl's resource pools ask Ray for
  ``num_gpus``, so a CPU run declares logical GPUs (``+ray_kwargs.ray_init.num_gpus=N``), one per
  trainer process; Ray's CUDA_VISIBLE_DEVICES assignment is switched off for them.
- ``CpuDeviceModule`` stands in for ``torch.cuda`` behind ``verl.utils.device.get_torch_device()``:
  real ``torch.cpu`` functions where they exist, host-memory figures for memory queries, no-ops for
  caches and streams a CPU does not have. Unknown attributes raise (no silent catch-all).
- ``gloo_process_group``: verl's ``initialize_global_process_group_ray`` builds the backend string
  "cpu:gloo,<device>:<backend>", i.e. "cpu:gloo,cpu:gloo" here, which torch rejects; on this platform
  the default becomes plain "gloo", with a collective timeout (``VOGUE_CPU_COLLECTIVE_TIMEOUT_S``) so that
  ranks whose sequences of collectives differ fail fast with "collective timeout: ranks disagree"
  (``explain_collective_timeout``) instead of waiting 30 minutes.
- ``register_fsdp_engines_for_cpu``: verl registers its FSDP/FSDP2 engines for devices "cuda" and
  "npu" only; the same classes are registered for "cpu" through ``EngineRegistry.register``.
"""

from __future__ import annotations

import functools
import os
import re
from contextlib import contextmanager
from typing import Any

import torch

from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

PLATFORM_NAME = "cpu"


def _host_memory() -> tuple[int, int]:
    """(available, total) bytes of host RAM."""
    import psutil

    memory = psutil.virtual_memory()
    return int(memory.available), int(memory.total)


class CpuDeviceModule:
    """The subset of the ``torch.cuda`` API that verl calls, implemented for the host."""

    _DELEGATED = ("current_stream", "stream", "Stream", "Event", "synchronize", "StreamContext")

    def __getattr__(self, name: str):
        if name in self._DELEGATED and hasattr(torch.cpu, name):
            return getattr(torch.cpu, name)
        raise AttributeError(
            f"the verl 'cpu' platform does not provide torch.cuda.{name}; if verl needs it, add it to "
            f"recipe/vogue/cpu/platform.py:CpuDeviceModule"
        )

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def current_device() -> int:
        return 0

    @staticmethod
    def set_device(device: Any) -> None:
        return None

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        return "CPU"  # verl's flops counter looks substrings up in this name

    @staticmethod
    def empty_cache() -> None:
        return None

    @staticmethod
    def ipc_collect() -> None:
        return None

    @staticmethod
    def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
        return None

    @staticmethod
    def mem_get_info(device: Any = None) -> tuple[int, int]:
        return _host_memory()

    # torch's CPU allocator keeps no statistics: report 0 rather than invent numbers.
    @staticmethod
    def memory_allocated(device: Any = None) -> int:
        return 0

    max_memory_allocated = memory_reserved = max_memory_reserved = memory_allocated

    @staticmethod
    def reset_peak_memory_stats(device: Any = None) -> None:
        return None

    @staticmethod
    def manual_seed(seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    @staticmethod
    def get_rng_state(device: Any = None) -> torch.Tensor:
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state: torch.Tensor, device: Any = None) -> None:
        torch.set_rng_state(state)


class PlatformCPU(PlatformBase):
    """verl platform for machines without an accelerator (processes compute on host cores)."""

    _device_module = CpuDeviceModule()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self):
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        return False  # only ever selected explicitly with VERL_PLATFORM=cpu

    def current_device(self) -> torch.device:
        # verl moves modules to ``get_device_id()`` (this value); an int would mean cuda:<int>.
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0):
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self):
        return None


def platform_selected() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME


COLLECTIVE_TIMEOUT_ENV = "VOGUE_CPU_COLLECTIVE_TIMEOUT_S"
# ≥ 5× the longest gap between two collectives of one rank in the 2-rank run under load (74 s, model loading to
# the first training collective, with a second end-to-end run beside it; the longest blocking wait was 0.5 s);
# verl 0.9.1's engine workers create the group with no timeout (gloo's default: 30 min).
DEFAULT_COLLECTIVE_TIMEOUT_S = 400
COLLECTIVE_TIMEOUT_MESSAGE = "collective timeout: ranks disagree"
_GLOO_TIMEOUT = re.compile(r"Timed out waiting \d+ms for (?:recv|send) operation")


def collective_timeout_seconds() -> int:
    """The gloo timeout of the CPU platform's process group: ``VOGUE_CPU_COLLECTIVE_TIMEOUT_S`` or the default."""
    value = os.environ.get(COLLECTIVE_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_COLLECTIVE_TIMEOUT_S
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{COLLECTIVE_TIMEOUT_ENV}={value!r}: expected a positive number of seconds")
    return int(value)


def explain_collective_timeout(text: str) -> str | None:
    """For a run's output that holds gloo's timeout error, the one line that says what it means; else None."""
    if not _GLOO_TIMEOUT.search(text):
        return None
    return (f"{COLLECTIVE_TIMEOUT_MESSAGE}: a rank waited {collective_timeout_seconds()} s at a collective that "
            f"another rank never entered (the ranks ran different sequences of collectives); "
            f"{COLLECTIVE_TIMEOUT_ENV} sets the wait")


def gloo_process_group(initialize):
    """Wrap verl's ``initialize_global_process_group_ray`` so that, on this platform only, the default
    backend is "gloo" instead of the invalid "cpu:gloo,cpu:gloo", and a collective that one rank never
    enters fails after ``collective_timeout_seconds()`` instead of hanging."""

    @functools.wraps(initialize)
    def initialize_on_cpu(timeout_second=None, backend=None):
        if platform_selected():
            backend = backend or "gloo"
            timeout_second = timeout_second or collective_timeout_seconds()
        return initialize(timeout_second=timeout_second, backend=backend)

    initialize_on_cpu.__vogue_cpu_shim__ = True
    return initialize_on_cpu


def install_process_group_shim() -> None:
    import sys

    import verl.utils.distributed as distributed

    if getattr(distributed.initialize_global_process_group_ray, "__vogue_cpu_shim__", False):
        return
    shimmed = gloo_process_group(distributed.initialize_global_process_group_ray)
    distributed.initialize_global_process_group_ray = shimmed
    # modules that imported the function by name before this shim was installed
    for module_name in ("verl.workers.engine_workers", "verl.checkpoint_engine.base"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "initialize_global_process_group_ray"):
            module.initialize_global_process_group_ray = shimmed


def register_fsdp_engines_for_cpu() -> None:
    """Register verl's FSDP engines (language and value model) for device "cpu"."""
    from verl.workers.engine.base import EngineRegistry
    from verl.workers.engine.fsdp import transformer_impl

    for model_type, engine_cls in (
        ("language_model", transformer_impl.FSDPEngineWithLMHead),
        ("value_model", transformer_impl.FSDPEngineWithValueHead),
    ):
        registered = EngineRegistry._engines.get(model_type, {})
        if all(PLATFORM_NAME in registered.get(backend, {}) for backend in ("fsdp", "fsdp2")):
            continue
        EngineRegistry.register(model_type=model_type, backend=["fsdp", "fsdp2"], device=PLATFORM_NAME)(engine_cls)


def register_platform() -> None:
    PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
