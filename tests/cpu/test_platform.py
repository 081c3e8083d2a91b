import importlib.metadata
import os
import subprocess
import sys

import pytest
import torch

from recipe.vogue.cpu import platform as cpu_platform
from recipe.vogue.cpu.platform import CpuDeviceModule, PlatformCPU, gloo_process_group


def test_entry_points_are_declared_for_verl():
    entry_points = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="verl.plugins")}
    assert entry_points.get("vogue_cpu") == "recipe.vogue.cpu"


def test_importing_verl_registers_the_platform_and_rollout_in_a_fresh_process():
    """verl loads the entry point itself (and swallows its errors), so check the effect, not the import."""
    code = (
        "import verl\n"
        "from verl.plugin.platform.platform_manager import PlatformRegistry\n"
        "from verl.workers.rollout.base import get_rollout_class\n"
        "from verl.workers.rollout.replica import RolloutReplicaRegistry\n"
        "from verl.workers.engine.base import EngineRegistry\n"
        "from verl.utils.device import get_device_name, get_device_id, get_nccl_backend\n"
        "assert PlatformRegistry.get('cpu').__name__ == 'PlatformCPU'\n"
        "assert get_rollout_class('hf').__name__ == 'HFServerAdapter'\n"
        "assert RolloutReplicaRegistry.get('hf').__name__ == 'HFReplica'\n"
        "assert (get_device_name(), str(get_device_id()), get_nccl_backend()) == ('cpu', 'cpu', 'gloo')\n"
        "assert EngineRegistry.get_engine_cls('language_model', 'fsdp2').__name__ == 'FSDPEngineWithLMHead'\n"
        "import verl.utils.distributed as d\n"
        "assert getattr(d.initialize_global_process_group_ray, '__vogue_cpu_shim__', False)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "VERL_PLATFORM": "cpu"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_platform_is_never_auto_detected():
    platform = PlatformCPU()
    assert not platform.is_platform_available(use_smi_check=True)
    assert platform.current_device() == torch.device("cpu")
    assert platform.ray_resource_options(2) == {"num_gpus": 2}
    assert platform.communication_backend_name() == "gloo"


def test_device_module_answers_for_the_host_and_refuses_unknown_calls():
    device = CpuDeviceModule()
    free, total = device.mem_get_info()
    assert 0 < free <= total
    assert device.get_device_name() == "CPU" and device.memory_allocated() == 0 and device.device_count() == 1
    assert device.current_stream() is torch.cpu.current_stream()
    state = device.get_rng_state()
    first = torch.rand(3)
    device.set_rng_state(state)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(AttributeError, match="does not provide torch.cuda.graph"):
        device.graph  # noqa: B018


def test_process_group_shim_defaults_to_plain_gloo_on_this_platform_only(monkeypatch):
    calls = []

    def initialize(timeout_second=None, backend=None):
        calls.append((timeout_second, backend))

    shimmed = gloo_process_group(initialize)
    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    shimmed()
    shimmed(backend="cpu:gloo")
    monkeypatch.setenv("VERL_PLATFORM", "cuda")
    shimmed()
    assert [backend for _, backend in calls] == ["gloo", "cpu:gloo", None]


def test_process_group_shim_sets_a_collective_timeout_on_this_platform_only(monkeypatch):
    calls = []
    shimmed = gloo_process_group(lambda timeout_second=None, backend=None: calls.append(timeout_second))
    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    monkeypatch.delenv(cpu_platform.COLLECTIVE_TIMEOUT_ENV, raising=False)
    shimmed()
    monkeypatch.setenv(cpu_platform.COLLECTIVE_TIMEOUT_ENV, "7")
    shimmed()
    shimmed(timeout_second=30)
    monkeypatch.setenv("VERL_PLATFORM", "cuda")
    shimmed()
    assert calls == [cpu_platform.DEFAULT_COLLECTIVE_TIMEOUT_S, 7, 30, None]
    for bad in ("0", "-3", "ten"):
        monkeypatch.setenv(cpu_platform.COLLECTIVE_TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match=cpu_platform.COLLECTIVE_TIMEOUT_ENV):
            cpu_platform.collective_timeout_seconds()


GLOO_TIMEOUT_SCRIPT = """
import datetime, os, sys, torch, torch.distributed as dist
rank = int(sys.argv[1])
dist.init_process_group("gloo", rank=rank, world_size=2, init_method=sys.argv[2], timeout=datetime.timedelta(seconds=2))
try:
    if rank == 0:
        dist.all_reduce(torch.ones(2))  # rank 1 enters a different collective: a disagreement
    else:
        dist.broadcast(torch.ones(3), src=1)
except RuntimeError as error:
    print(error)
"""


def test_a_disagreement_between_two_gloo_ranks_is_explained(tmp_path, monkeypatch):
    """Two real gloo ranks entering different collectives: gloo's error after the timeout is recognised and
    explained; other failures are not."""
    init = f"file://{tmp_path / 'rendezvous'}"
    ranks = [subprocess.Popen([sys.executable, "-c", GLOO_TIMEOUT_SCRIPT, str(rank), init], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    output = "".join(rank.communicate(timeout=120)[0] for rank in ranks)
    monkeypatch.setenv(cpu_platform.COLLECTIVE_TIMEOUT_ENV, "2")
    explained = cpu_platform.explain_collective_timeout(output)
    assert explained is not None, output
    assert explained.startswith("collective timeout: ranks disagree") and "2 s" in explained
    assert cpu_platform.explain_collective_timeout("RuntimeError: CUDA out of memory") is None


def test_verl_default_backend_string_is_what_the_shim_avoids():
    """torch rejects verl's default "cpu:gloo,<device>:<backend>" when the device is the CPU."""
    code = (
        "import os, torch.distributed as dist\n"
        "os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(29000 + os.getpid() % 1000))\n"
        "try:\n"
        "    dist.init_process_group(backend='cpu:gloo,cpu:gloo', rank=0, world_size=1)\n"
        "    print('accepted')\n"
        "except Exception as e:\n"
        "    print('rejected')\n"
        "dist.init_process_group(backend='gloo', rank=0, world_size=1)\n"
        "print('gloo ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["rejected", "gloo", "ok"], result.stderr[-2000:]


def test_install_shim_is_idempotent_and_patches_importers(monkeypatch):
    import verl.utils.distributed as distributed
    import verl.workers.engine_workers as engine_workers

    original = distributed.initialize_global_process_group_ray
    monkeypatch.setattr(distributed, "initialize_global_process_group_ray", getattr(original, "__wrapped__", original))
    monkeypatch.setattr(engine_workers, "initialize_global_process_group_ray", getattr(original, "__wrapped__", original))
    cpu_platform.install_process_group_shim()
    first = distributed.initialize_global_process_group_ray
    cpu_platform.install_process_group_shim()
    assert distributed.initialize_global_process_group_ray is first and first.__vogue_cpu_shim__
    assert engine_workers.initialize_global_process_group_ray is first
