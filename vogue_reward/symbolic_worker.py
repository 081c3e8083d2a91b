"""The worker process behind ``worker_pool``: ``python -m vogue_reward.symbolic_worker``.

Protocol (one line each way, UTF-8): the parent sends ``json.dumps([prediction, truth, seconds])``; the
worker answers ``true`` or ``false`` (``math_equivalence.symbolic_equivalent``; any exception, including
MemoryError and RecursionError, counts as ``false``), or ``timeout`` when its own alarm interrupted the
check after ``seconds``. It prints ``ready`` once its imports are warm and exits when its stdin closes
(the parent went away).

The alarm (SIGALRM, fine here: the check runs on this process's main thread) interrupts sympy's Python
loops and keeps the worker alive; it re-fires every 50 ms because some libraries swallow exceptions
with bare ``except:``. Work stuck inside C code ignores it: for that the parent kills the worker.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import sys

from vogue_reward.math_equivalence import symbolic_equivalent

MEMORY_LIMIT_BYTES = 2 << 30  # a runaway big-integer power fails fast with MemoryError instead of swapping
ALARM_REPEAT_SECONDS = 0.05
WARM_UP_SECONDS = 60.0
# one check per code path with a costly first use (lazy imports, parser set-up), paid before readiness
WARM_UP_PAIRS = (
    ["\\frac{1}{2}", "0.5"],
    ["\\{1,2\\}", "\\{2,1\\}"],
    ["(x-1)^2", "x^2+2x+1"],
    ["2\\pi", "3\\pi"],
    ["[1,2)", "(1,2]"],
    ["2\\sqrt{3}", "3\\sqrt{2}"],
)


class _CheckTimedOut(BaseException):
    """Raised by the alarm; a BaseException so that ``except Exception`` in the libraries lets it pass."""


def _interrupt(signum, frame):
    raise _CheckTimedOut


def _limit_memory() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, MEMORY_LIMIT_BYTES)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _answer(request: str) -> str:
    try:
        prediction, truth, seconds = json.loads(request)
        signal.setitimer(signal.ITIMER_REAL, seconds, ALARM_REPEAT_SECONDS)
        try:
            return "true" if symbolic_equivalent(prediction, truth) else "false"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _CheckTimedOut:
        return "timeout"
    except Exception:
        return "false"


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints from libraries must not corrupt replies
    for library in ("math_verify", "latex2sympy2_extended", "pylatexenc"):  # they warn on every odd answer
        logging.getLogger(library).setLevel(logging.ERROR)
    _limit_memory()
    signal.signal(signal.SIGALRM, _interrupt)
    for warm_up in WARM_UP_PAIRS:
        _answer(json.dumps([*warm_up, WARM_UP_SECONDS]))
    replies.write("ready\n")
    replies.flush()
    for request in sys.stdin:
        replies.write(_answer(request) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
