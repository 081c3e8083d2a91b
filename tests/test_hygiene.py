"""The suite runs offline, with private caches and no experiment tracking."""

import os
import socket

import pytest


def test_hub_is_offline_and_caches_are_private():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["WANDB_MODE"] == "disabled"
    home = os.path.expanduser("~")
    for var in ("HF_HOME", "HF_DATASETS_CACHE"):
        assert not os.environ[var].startswith(os.path.join(home, ".cache")), var


def test_outbound_connections_are_blocked():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(RuntimeError, match="must not use the network"):
            sock.connect(("1.1.1.1", 443))


def test_loopback_connections_are_allowed():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())
