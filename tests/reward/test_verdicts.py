"""VerdictCache: bounded LRU, one computation per key across threads, exceptions passed on, not kept."""

import sys
import threading
import time

from vogue_reward.verdicts import MISSING, VerdictCache


def test_lookup_get_and_least_recently_used_eviction():
    cache = VerdictCache(maxsize=2)
    assert cache.lookup("a") is MISSING
    assert cache.get("a", lambda: True) is True
    assert cache.get("b", lambda: None) is None  # a timeout is a verdict too
    assert cache.lookup("b") is None
    cache.lookup("a")  # "a" is now the most recent
    cache.get("c", lambda: False)
    assert cache.lookup("b") is MISSING and cache.lookup("a") is True and cache.lookup("c") is False
    cache.clear()
    assert cache.lookup("a") is MISSING


def _blocked_on_a_result(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "result" and "concurrent" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def test_an_exception_reaches_every_waiting_caller_and_is_not_cached():
    cache = VerdictCache(maxsize=8)
    started, release = threading.Event(), threading.Event()
    computations, errors = [], []

    def failing():
        computations.append(1)
        started.set()
        release.wait(30)
        raise RuntimeError("worker gone")

    def ask():
        try:
            cache.get("k", failing)
        except RuntimeError as error:
            errors.append(str(error))

    owner = threading.Thread(target=ask)
    owner.start()
    started.wait(30)
    waiter = threading.Thread(target=ask)
    waiter.start()
    deadline = time.monotonic() + 30
    while not _blocked_on_a_result(waiter) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    owner.join()
    waiter.join()
    assert errors == ["worker gone"] * 2 and len(computations) == 1
    assert cache.lookup("k") is MISSING and cache.get("k", lambda: True) is True
