"""Test hygiene for the whole suite: offline hub, private caches, no tracking, no network.

The environment is set at import time (before any test module imports huggingface_hub, datasets or
transformers, which read it once) and inherited by every subprocess and Ray worker a test starts.
"""

import ipaddress
import os
import shutil
import socket
import tempfile

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run: a test that fails by chance blocks landings.
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.load_profile("deterministic")

_PRIVATE_HOME = tempfile.mkdtemp(prefix="vogue-tests-home-")
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": os.path.join(_PRIVATE_HOME, "hf"),
        "HF_DATASETS_CACHE": os.path.join(_PRIVATE_HOME, "hf", "datasets"),
        "WANDB_MODE": "disabled",
        "TOKENIZERS_PARALLELISM": "false",
    }
)


def _local_addresses() -> set[str]:
    addresses = {"127.0.0.1", "::1", "0.0.0.0"}
    try:
        addresses.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return addresses


_LOCAL = _local_addresses()
_real_connect = socket.socket.connect


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = address[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host in ("localhost",) or host == socket.gethostname()
    return ip.is_loopback or str(ip) in _LOCAL


def _guarded_connect(self, address):
    if not _is_local(address):
        raise RuntimeError(f"tests must not use the network: blocked connect to {address!r}")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect


@pytest.fixture(scope="session", autouse=True)
def _remove_private_home():
    yield
    shutil.rmtree(_PRIVATE_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random (not warm-started) tiny Qwen2.5-VL saved like a hub checkpoint."""
    from recipe.vogue.cpu import tiny

    out = tmp_path_factory.mktemp("tiny_model")
    tiny.build(str(out), seed=0)
    return str(out)


@pytest.fixture(scope="session")
def image_processor():
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=4 * 56 * 56)


@pytest.fixture(scope="session")
def tiny_qwen3_vl_model_dir(tmp_path_factory):
    """A random (not warm-started) tiny Qwen3-VL (16-px patches, Qwen3VLProcessor) saved like a hub checkpoint."""
    from recipe.vogue.cpu import tiny

    out = tmp_path_factory.mktemp("tiny_qwen3_vl_model")
    tiny.build(str(out), seed=0, arch="qwen3_vl")
    return str(out)
