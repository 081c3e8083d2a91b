"""Time-bounded symbolic verification in worker processes, safe to call from any thread.

sympy can run for minutes (or allocate gigabytes) on answers such as ``9^{9^{9}}`` or ``100!!``, and
math-verify's own timeout is ``signal.alarm``, which only works on the main thread — verl calls the
reward from executor threads. So every symbolic check runs in a ``symbolic_worker`` process, with two
bounds: the worker interrupts its own check after ``SOFT_FRACTION·timeout`` (and stays alive), and the
calling thread waits at most ``timeout`` seconds for the reply and otherwise kills the worker (stuck in
C code) and starts a replacement. Time spent waiting for a free worker or for a fresh worker's imports
is not counted.

Workers are started with ``subprocess`` (fork-free, so safe in threaded parents and Ray actors), one
per CPU at most, lazily; a pool inherited through ``fork`` is not reused by the child.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time


STARTUP_TIMEOUT_SECONDS = 120.0
SOFT_FRACTION = 0.8
logger = logging.getLogger(__name__)


class WorkerUnavailable(RuntimeError):
    """A worker process could not start: an environment problem, not a property of the input."""


def _worker_environment() -> dict[str, str]:
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding vogue_reward/
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, environment.get("PYTHONPATH")]))
    return environment


def worker_command() -> list[str]:
    return [sys.executable, "-m", "vogue_reward.symbolic_worker"]


class _Worker:
    def __init__(self):
        self._process = subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_worker_environment(),
        )
        self._unread = b""
        self._ready = False

    def _read_line(self, timeout: float) -> bytes | None:
        """One reply line, or None on timeout or when the worker died."""
        deadline = time.monotonic() + timeout
        descriptor = self._process.stdout.fileno()
        readable = select.poll()  # not select.select: Ray processes hold descriptors beyond FD_SETSIZE
        readable.register(descriptor, select.POLLIN)
        while b"\n" not in self._unread:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not readable.poll(remaining * 1000):
                return None
            chunk = os.read(descriptor, 4096)
            if not chunk:
                return None
            self._unread += chunk
        line, _, self._unread = self._unread.partition(b"\n")
        return line

    def _wait_until_ready(self) -> None:
        if self._read_line(STARTUP_TIMEOUT_SECONDS) != b"ready":
            self.kill()
            raise WorkerUnavailable(
                f"symbolic_worker did not start within {STARTUP_TIMEOUT_SECONDS:.0f} s "
                f"(exit code {self._process.returncode}); its stderr above says why"
            )
        self._ready = True

    def ask(self, prediction: str, truth: str, timeout: float) -> bytes | None:
        """The worker's reply (b"true", b"false", b"timeout"), or None if it did not answer within
        ``timeout`` seconds or died."""
        if not self._ready:
            self._wait_until_ready()
        try:
            self._process.stdin.write(json.dumps([prediction, truth, SOFT_FRACTION * timeout]).encode() + b"\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            return None
        return self._read_line(timeout)

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            stream.close()


class WorkerPool:
    """At most ``size`` workers; ``equivalent`` blocks while all of them are busy."""

    def __init__(self, size: int):
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.owner_pid = os.getpid()
        atexit.register(self.close)

    def equivalent(self, prediction: str, truth: str, timeout: float) -> bool | None:
        """``symbolic_equivalent(prediction, truth)``, or None when it took longer than ``timeout`` s."""
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else _Worker()
            try:
                reply = worker.ask(prediction, truth, timeout)
            except BaseException:
                worker.kill()
                raise
            if reply is None:
                logger.warning("symbolic worker killed after %.1f s: %.80r vs %.80r", timeout, prediction, truth)
                worker.kill()
                replacement = _Worker()
                with self._lock:
                    self._idle.insert(0, replacement)  # still importing: ready workers are taken first
            else:
                with self._lock:
                    self._idle.append(worker)
        return None if reply in (None, b"timeout") else reply == b"true"

    def close(self) -> None:
        """Kill the idle workers (a forked child's copy of the pool leaves its parent's workers alone)."""
        if os.getpid() != self.owner_pid:
            return
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.kill()


_shared_pool: WorkerPool | None = None
_shared_pool_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """This process's pool, one worker per usable CPU."""
    global _shared_pool
    with _shared_pool_lock:
        if _shared_pool is None or _shared_pool.owner_pid != os.getpid():
            _shared_pool = WorkerPool(len(os.sched_getaffinity(0)))
        return _shared_pool
