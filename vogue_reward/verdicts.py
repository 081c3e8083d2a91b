"""A per-process memo of symbolic verdicts, timeouts included, shared by every thread.

A check that hit the time bound is remembered as unverified (None) like any other verdict, so the
rollouts of a prompt that repeat a slow answer pay the bound once. Callers that ask for a check
another thread is running wait for its verdict instead of occupying a second worker with it (verl
scores the rollouts of a prompt at the same time, from executor threads).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

MISSING = object()


class VerdictCache:
    """At most ``maxsize`` verdicts, least recently used evicted first."""

    def __init__(self, maxsize: int):
        self._maxsize = maxsize
        self._verdicts: OrderedDict[Hashable, bool | None] = OrderedDict()
        self._running: dict[Hashable, Future] = {}
        self._lock = threading.Lock()

    def lookup(self, key: Hashable):
        """The verdict for ``key``, or ``MISSING`` if it has not been computed (yet)."""
        with self._lock:
            if key in self._verdicts:
                self._verdicts.move_to_end(key)
                return self._verdicts[key]
            return MISSING

    def get(self, key: Hashable, compute: Callable[[], bool | None]) -> bool | None:
        """The verdict for ``key``, computed once by the first caller. An exception is passed to the
        callers waiting for that computation and not remembered."""
        with self._lock:
            if key in self._verdicts:
                self._verdicts.move_to_end(key)
                return self._verdicts[key]
            running = self._running.get(key)
            owner = running is None
            if owner:
                running = self._running[key] = Future()
        if not owner:
            return running.result()
        try:
            verdict = compute()
        except BaseException as error:
            with self._lock:
                del self._running[key]
            running.set_exception(error)
            raise
        with self._lock:
            self._verdicts[key] = verdict
            if len(self._verdicts) > self._maxsize:
                self._verdicts.popitem(last=False)
            del self._running[key]
        running.set_result(verdict)
        return verdict

    def clear(self) -> None:
        with self._lock:
            self._verdicts.clear()
