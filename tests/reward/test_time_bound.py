"""The time bound on symbolic checks holds off the main thread; workers are replaced, never shared."""

import os
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from vogue_reward import compute_score, compute_score_batch, score
from vogue_reward.worker_pool import WorkerPool, WorkerUnavailable, shared_pool

MATH = {"answer_type": "math"}
BOUND = 1.0
# scheduling delays on a loaded 2-core machine; every failure these tests catch takes minutes (or math_timeout=30 s)
SLACK = 2.0
# sympy expands these for minutes; they pass the too-costly guard, so the worker's alarm must stop them
PATHOLOGICAL = [r"(x+1)^{999}", r"\sum_{n=1}^{999} n^{n}"]
# the guard keeps these from sympy altogether
GUARDED = [r"9^{9^{9^{9}}}", r"(10^{100})!", "9" * 60 + r"\pi", r"2^{1000000000}"]
HANGING_WORKER = "import sys, time; print('ready', flush=True); sys.stdin.readline(); time.sleep(600)"


def _in_thread(function):
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=function()))
    thread.start()
    thread.join()
    return box["result"]


def _warm():
    """One symbolic check that really reaches a worker (not the verdict cache), so one is ready."""
    score.clear_verdict_cache()
    assert compute_score("geo3k", r"\boxed{2\sqrt{3}}", r"\sqrt{12}", MATH)["acc"] == 1.0


@pytest.mark.parametrize("answer", PATHOLOGICAL)
def test_pathological_answer_returns_within_the_bound_from_a_worker_thread(answer):
    _warm()  # a ready worker is idle: waiting for a worker to start is not part of the bound
    started = time.monotonic()
    result = _in_thread(lambda: compute_score("geo3k", f"<think>t</think>\\boxed{{{answer}}}", "1", MATH, math_timeout=BOUND))
    elapsed = time.monotonic() - started
    assert elapsed < BOUND + SLACK
    assert result["verify_failed"] == 1.0 and result["acc"] == 0.0 and result["format"] == 1.0
    _warm()  # the worker survived its alarm or was replaced


@pytest.mark.parametrize("answer", GUARDED)
def test_answers_too_costly_for_sympy_are_not_sent_to_it(answer):
    started = time.monotonic()
    result = compute_score("geo3k", f"\\boxed{{{answer}}}", "1", MATH, math_timeout=30)
    assert time.monotonic() - started < SLACK
    assert result["verify_failed"] == 1.0 and result["acc"] == 0.0


def test_a_worker_stuck_beyond_its_alarm_is_killed_and_replaced(monkeypatch):
    """The hard bound: a worker that never answers (as if stuck in C code) is killed at the timeout."""
    monkeypatch.setattr("vogue_reward.worker_pool.worker_command", lambda: [sys.executable, "-c", HANGING_WORKER])
    pool = WorkerPool(1)
    pool.equivalent("1", "1", timeout=0.1)  # starts the worker (startup is not part of the bound)
    stuck = pool._idle[0]
    started = time.monotonic()
    assert pool.equivalent("x", "y", timeout=BOUND) is None
    assert time.monotonic() - started < BOUND + SLACK
    assert stuck._process.poll() is not None  # killed
    assert len(pool._idle) == 1 and pool._idle[0] is not stuck  # replaced
    pool.close()


class _CountingPool:
    """Stands in for the worker pool: counts the checks it is asked for, answers ``reply``."""

    def __init__(self, reply, size=2, barrier=None):
        self.size, self.reply, self.barrier = size, reply, barrier
        self.asked = []
        self._lock = threading.Lock()

    def equivalent(self, prediction, truth, timeout):
        with self._lock:
            self.asked.append(prediction)
        if self.barrier is not None:
            self.barrier.wait()  # returns only when `size` checks run at the same time
        return self.reply


def test_a_timeout_is_cached_like_a_verdict(monkeypatch):
    pool = _CountingPool(reply=None)
    monkeypatch.setattr(score, "shared_pool", lambda: pool)
    score.clear_verdict_cache()
    results = [compute_score("x", r"\boxed{\frac{6}{8}}", r"\frac{3}{4}", MATH) for _ in range(3)]
    assert all((result["verify_failed"], result["acc"]) == (1.0, 0.0) for result in results)
    assert len(pool.asked) == 1
    compute_score("x", r"\boxed{\frac{6}{8}}", r"\frac{3}{4}", MATH, math_timeout=10)  # a longer bound: asked again
    assert len(pool.asked) == 2
    score.clear_verdict_cache()


def test_threads_asking_for_the_same_check_wait_for_one_run(monkeypatch):
    release = threading.Event()

    class SlowPool(_CountingPool):
        def equivalent(self, prediction, truth, timeout):
            release.wait(30)
            return super().equivalent(prediction, truth, timeout)

    pool = SlowPool(reply=True)
    monkeypatch.setattr(score, "shared_pool", lambda: pool)
    score.clear_verdict_cache()
    results = [None] * 6

    def ask(index):
        results[index] = compute_score("x", r"\boxed{\frac{6}{8}}", r"\frac{3}{4}", MATH)["acc"]

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert results == [1.0] * 6 and len(pool.asked) == 1
    score.clear_verdict_cache()


def test_three_identical_slow_answers_cost_the_bound_once(monkeypatch):
    _warm()
    pool, asked = shared_pool(), []

    def counted(prediction, truth, timeout):
        asked.append(prediction)
        return pool.equivalent(prediction, truth, timeout)

    monkeypatch.setattr(score, "shared_pool", lambda: SimpleNamespace(equivalent=counted, size=pool.size))
    response = f"<think>t</think>\\boxed{{{PATHOLOGICAL[0]}}}"
    started = time.monotonic()
    results = _in_thread(lambda: [compute_score("geo3k", response, "1", MATH, math_timeout=BOUND) for _ in range(3)])
    assert time.monotonic() - started < BOUND + SLACK and len(asked) == 1
    assert all(result["verify_failed"] == 1.0 for result in results)


def test_batch_runs_distinct_slow_checks_side_by_side_and_each_once(monkeypatch):
    """Six distinct slow checks in adjacent rows (one prompt's rollouts, repeats included): each reaches
    the pool once, and two run at the same time (the barrier only opens for two; contiguous chunks
    would hand them all to one thread and the barrier would break)."""
    pool = _CountingPool(reply=True, barrier=threading.Barrier(2, timeout=30))
    monkeypatch.setattr(score, "shared_pool", lambda: pool)
    score.clear_verdict_cache()
    answers = [rf"\frac{{{2 * k}}}{{{2 * k + 2}}}" for k in range(1, 7)]
    responses = [f"\\boxed{{{answer}}}" for answer in answers for _ in range(2)] + ["\\boxed{x}"]
    truths = [rf"\frac{{{k}}}{{{k + 1}}}" for k in range(1, 7) for _ in range(2)] + ["x"]
    results = compute_score_batch(["x"] * len(responses), responses, truths, [MATH] * len(responses))
    assert [result["acc"] for result in results] == [1.0] * len(responses)
    assert sorted(pool.asked) == sorted(answers) and not pool.barrier.broken
    score.clear_verdict_cache()


def test_batch_reuses_verdicts_cached_by_earlier_calls(monkeypatch):
    pool = _CountingPool(reply=False)
    monkeypatch.setattr(score, "shared_pool", lambda: pool)
    score.clear_verdict_cache()
    compute_score("x", r"\boxed{\frac{1}{3}}", "0.5", MATH)
    results = compute_score_batch(["x"] * 3, [r"\boxed{\frac{1}{3}}"] * 3, ["0.5"] * 3, [MATH] * 3)
    assert [result["acc"] for result in results] == [0.0] * 3 and len(pool.asked) == 1
    score.clear_verdict_cache()


def test_pool_serves_more_threads_than_workers():
    pool = WorkerPool(2)
    pairs = [(rf"\frac{{{i}}}{{{i + 1}}}", f"{i}/{i + 1}", True) for i in range(1, 7)]
    pairs += [(rf"\frac{{{i}}}{{{i + 2}}}", f"{i}/{i + 1}", False) for i in range(1, 7)]
    answers = [None] * len(pairs)

    def ask(index):
        answers[index] = pool.equivalent(*pairs[index][:2], timeout=30)

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(len(pairs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()
    assert answers == [expected for *_, expected in pairs]
    assert len(pool._idle) == 0


def test_a_worker_that_cannot_start_raises_instead_of_scoring_zero(monkeypatch):
    monkeypatch.setattr("vogue_reward.worker_pool.worker_command", lambda: ["/bin/false"])
    monkeypatch.setattr("vogue_reward.worker_pool.STARTUP_TIMEOUT_SECONDS", 10.0)
    broken = WorkerPool(1)
    monkeypatch.setattr(score, "shared_pool", lambda: broken)
    score.clear_verdict_cache()
    with pytest.raises(WorkerUnavailable, match="did not start"):
        compute_score("x", r"\boxed{2\sqrt{3}}", r"\sqrt{12}", MATH)
    with pytest.raises(WorkerUnavailable, match="did not start"):  # not cached: asked again, fails again
        compute_score_batch(["x"], [r"\boxed{2\sqrt{3}}"], [r"\sqrt{12}"], [MATH])
    score.clear_verdict_cache()


def test_a_forked_child_gets_its_own_pool_and_leaves_the_parents_workers_alone():
    parent_pool = shared_pool()
    _warm()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        parent_pool.close()
        os._exit(0 if shared_pool() is not parent_pool else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _warm()  # the parent's workers still answer


N = score.DEFAULT_MAX_RESPONSE_CHARS
ENORMOUS = {  # 100k-character responses shaped against each scan (a quadratic scan takes minutes on these)
    "trailing whitespace": "x" + " " * (N - 1),
    "end tokens and spaces": (" <|im_end|>" * N)[:N],
    "answer phrase then spaces": "answer" + " " * (N - 7) + "x",
    "many answer phrases": ("answer is " * N)[:N],
    "unclosed boxes": (("\\boxed{" + " " * 100) * N)[:N],
    "bare box commands": ("\\boxed" * N)[:N],
    "open braces": "{" * N,
    "special-token openers": ("<|a" * N)[:N],
    "digits": "9" * N,
    "think tags": ("<think>" * N)[:N],
}


@pytest.mark.parametrize("name", sorted(ENORMOUS))
def test_enormous_adversarial_responses_are_scored_in_linear_time(name):
    started = time.monotonic()
    for answer_type, truth in [("math", "1"), ("choice", "A"), ("yesno", "yes"), ("number", "1"), ("text", "x")]:
        result = compute_score("geo3k", ENORMOUS[name], truth, {"answer_type": answer_type})
        assert result["internal_error"] == 0.0
    assert time.monotonic() - started < 2.0
