"""The worker process behind ``worker_pool``: ``python -m vogue_reward.symbolic_worker``.

Protocol (one line each way, UTF-8): the parent sends ``json.dumps([prediction, truth])``; the worker
answers ``true`` or ``false`` (``math_equivalence.symbolic_equivalent``; any exception, including
MemoryError and RecursionError, counts as ``false``). It prints ``ready`` once its imports are warm and
exits when its stdin closes (the parent went away). The parent enforces the time bound by killing it.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys

from vogue_reward.math_equivalence import symbolic_equivalent

MEMORY_LIMIT_BYTES = 2 << 30  # a runaway big-integer power fails fast with MemoryError instead of swapping


def _limit_memory() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, MEMORY_LIMIT_BYTES)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _answer(request: str) -> bool:
    try:
        prediction, truth = json.loads(request)
        return symbolic_equivalent(prediction, truth)
    except Exception:
        return False


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints from libraries must not corrupt replies
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    _limit_memory()
    for warm_up in (["\\frac{1}{2}", "0.5"], ["\\{1,2\\}", "\\{2,1\\}"]):  # lazy imports before readiness
        _answer(json.dumps(warm_up))
    replies.write("ready\n")
    replies.flush()
    for request in sys.stdin:
        replies.write("true\n" if _answer(request) else "false\n")
        replies.flush()


if __name__ == "__main__":
    main()
