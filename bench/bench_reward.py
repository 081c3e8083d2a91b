"""Reward throughput for one step of the paper's run: 2,560 responses (512 prompts × 5 rollouts).

Responses are generated in code (seeded): a realistic mix of answer types (math 60%, choice 20%,
yes/no 8%, number 7%, text 5%) and of outcomes (same form as the ground truth, an equivalent form that
needs sympy, wrong, no box, truncated), each with ~2-4k characters of reasoning. Math answers get fresh
numbers per prompt, so only the rollouts of one prompt can share a cached verdict, as in training.
Scores them twice —
``compute_score`` in a loop (one worker process) and ``compute_score_batch`` (one worker per CPU) — each
in a fresh subprocess after one untimed warm-up step; prints both times and their ratio, and checks
that both give identical results. Also prints the CPU seconds each mode used (parent + workers): on a
shared machine the wall-clock ratio depends on how many cores other processes leave free.

Then an adversarial step: the same step with 2% of the responses replaced by answers whose symbolic
check runs into the time bound (``(x+k)^{999}``), 4 rollouts in each of 13 math prompts, two distinct
answers per prompt each written twice (half of the slow rows repeat one of their group). It is scored
by ``compute_score_batch`` and by the contiguous chunking it used before (a baseline kept here only),
each in a fresh process; prints both times and the target ⌈distinct slow checks / workers⌉ × bound +
the fast-path time (the benign step's batch time).

    .venv/bin/python bench/bench_reward.py [--prompts 512] [--rollouts 5] [--seed 0] [--slow-timeout 2]
"""

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from vogue_reward import compute_score, compute_score_batch, score
from vogue_reward.numbers import plain_number
from vogue_reward.worker_pool import shared_pool

def _math_answers(rng):
    """(ground truth, equivalent forms, wrong answers) with fresh numbers, so prompts do not share answers."""
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(41, 90)
    templates = [
        (f"{a * b}", [f"{a * b}.0", f"{a * b} \\text{{ cm}}"], [f"{a * b + 1}", f"{a + b}"]),
        (f"\\frac{{{a}}}{{{a + b}}}", [f"{a}/{a + b}", f"\\dfrac{{{2 * a}}}{{{2 * (a + b)}}}"], [f"\\frac{{{a + b}}}{{{a}}}"]),
        (f"{a}\\sqrt{{{b}}}", [f"\\sqrt{{{a * a * b}}}", f"{a} \\sqrt{{ {b} }}"], [f"{b}\\sqrt{{{a}}}"]),
        (f"{c}", [f"{c}^\\circ", f"{c}°"], [f"{180 - c}^\\circ"]),
        (f"({a},{a + b}]", [f"({a}, {a + b}]", f"\\left({a},{a + b}\\right]"], [f"[{a},{a + b})"]),
        (f"x^2+{2 * a}x+{a * a}", [f"(x+{a})^2", f"{a * a}+{2 * a}x+x^2"], [f"(x-{a})^2"]),
        (f"{a}\\pi", [f"{a} \\pi", f"\\pi \\cdot {a}"], [f"{a + 1}\\pi"]),
        (f"{a * 1000}", [f"{a},000", f"{a}\\times 10^3"], [f"{a * 100}"]),
        (f"{c}\\%", [f"0.{c}", f"{c}"], [f"{c - 1}\\%"]),
    ]
    return rng.choice(templates)


CHOICES = ["12", "14", "16", "18"]
REASONING_SENTENCES = [
    "From the figure, the triangle ABC has a right angle at C.",
    "By the Pythagorean theorem, the hypotenuse follows from the two legs.",
    "The bar for 2019 is the tallest one in the chart, slightly above 40.",
    "We substitute the known values and simplify the expression step by step.",
    "Checking the answer against the options confirms the computation.",
    "The angle subtended by the arc is half of the central angle.",
]


def _reasoning(rng):
    return " ".join(rng.choice(REASONING_SENTENCES) for _ in range(rng.randint(30, 60)))


def _respond(rng, answer, outcome):
    thinking = _reasoning(rng)
    if outcome == "no_box":
        return f"<think>{thinking}</think> I think it is {answer}."
    if outcome == "truncated":
        return f"<think>{thinking}"
    return f"<think>{thinking}</think>\nThe answer is $\\boxed{{{answer}}}$."


def _math_row(rng):
    truth, equivalent, wrong = _math_answers(rng)
    outcome = rng.choices(["same", "equivalent", "wrong", "no_box", "truncated"], [35, 25, 30, 5, 5])[0]
    answer = {"same": truth, "equivalent": rng.choice(equivalent), "wrong": rng.choice(wrong)}.get(outcome, truth)
    return truth, {"answer_type": "math"}, lambda: _respond(rng, answer, outcome)


def _other_row(rng, answer_type):
    if answer_type == "choice":
        truth, options = rng.choice("ABCD"), ["B", "(B)", "B. 14", "14", "C", "option D"]
        return truth, {"answer_type": "choice", "choices": CHOICES}, lambda: _respond(rng, rng.choice(options), "same")
    if answer_type == "yesno":
        return rng.choice(["yes", "no"]), {"answer_type": "yesno"}, lambda: _respond(rng, rng.choice(["Yes", "No"]), "same")
    if answer_type == "number":
        truth = rng.choice(["42", "3.5", "1200"])
        guesses = [truth, "41", "3.6", "1,210", "12\\%"]
        return truth, {"answer_type": "number"}, lambda: _respond(rng, rng.choice(guesses), "same")
    truth = rng.choice(["Asia", "red", "triangle"])
    return truth, {"answer_type": "text"}, lambda: _respond(rng, rng.choice(["Asia", "Red", "square"]), "same")


def make_step(prompts, rollouts, seed):
    """(data_sources, responses, ground_truths, extra_infos) for one training step."""
    rng = random.Random(seed)
    columns = ([], [], [], [])
    for prompt in range(prompts):
        answer_type = rng.choices(["math", "choice", "yesno", "number", "text"], [60, 20, 8, 7, 5])[0]
        truth, extra, respond = _math_row(rng) if answer_type == "math" else _other_row(rng, answer_type)
        for _ in range(rollouts):
            for column, value in zip(columns, (f"bench_{answer_type}", respond(), truth, extra)):
                column.append(value)
    return columns


SLOW_FRACTION = 0.02
SLOW_PER_PROMPT = 4  # two distinct slow answers, each written by two rollouts
OLD_CHUNK = 40  # compute_score_batch's contiguous chunk before issue 11


def make_adversarial_step(prompts, rollouts, seed):
    """``make_step`` with ``SLOW_FRACTION`` of the responses replaced by distinct slow answers, in
    groups of ``SLOW_PER_PROMPT`` rollouts of one math prompt. Returns (step, distinct slow answers)."""
    step = make_step(prompts, rollouts, seed)
    sources, responses = step[0], list(step[1])
    math_prompts = [  # a numeric truth keeps every check slow (an interval vs a polynomial is decided fast)
        prompt for prompt in range(prompts)
        if sources[prompt * rollouts] == "bench_math" and plain_number(step[2][prompt * rollouts]) is not None
    ]
    slow_prompts = round(SLOW_FRACTION * prompts * rollouts / SLOW_PER_PROMPT)
    rng, distinct = random.Random(seed), 0
    for prompt in sorted(rng.sample(math_prompts, slow_prompts)):
        for rollout in range(SLOW_PER_PROMPT):
            k = distinct + rollout // 2 + 2
            responses[prompt * rollouts + rollout] = f"<think>{_reasoning(rng)}</think> \\boxed{{(x+{k})^{{999}}}}"
        distinct += SLOW_PER_PROMPT // 2
    return (sources, responses, step[2], step[3]), distinct


def contiguous_chunks(step, **settings):
    """The baseline: compute_score_batch before issue 11, one thread per worker over contiguous chunks
    of ``OLD_CHUNK`` rows, so a chunk's slow rows wait for each other."""
    rows = list(zip(*step))
    chunks = [rows[start : start + OLD_CHUNK] for start in range(0, len(rows), OLD_CHUNK)]
    with ThreadPoolExecutor(max_workers=shared_pool().size) as executor:
        scored = executor.map(lambda chunk: [compute_score(*row, **settings) for row in chunk], chunks)
        return [result for chunk in scored for result in chunk]


def _score_step(mode, step, **settings):
    if mode == "single":
        return [compute_score(*row, **settings) for row in zip(*step)]
    if mode == "chunked":
        return contiguous_chunks(step, **settings)
    return compute_score_batch(*step, **settings)


def _cpu_seconds():
    """CPU time of this process plus its live children (the symbolic workers), from /proc."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    children = set()
    for thread in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{thread}/children") as listing:
            children.update(listing.read().split())
    for pid in children:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(mode, args):
    """In a fresh process: one untimed step (seed + 1) starts and warms the workers, as the steps
    before it do in training; then the verdict cache is cleared and step ``seed`` is timed (its
    adversarial version for the modes "adversarial" and "chunked")."""
    adversarial = mode in ("adversarial", "chunked")
    settings = {"math_timeout": args.slow_timeout} if adversarial else {}
    started = time.perf_counter()
    _score_step("single" if mode == "single" else "batch", make_step(args.prompts, args.rollouts, args.seed + 1), **settings)
    first_step = time.perf_counter() - started
    if adversarial:
        step, distinct = make_adversarial_step(args.prompts, args.rollouts, args.seed)
    else:
        step, distinct = make_step(args.prompts, args.rollouts, args.seed), 0
    score.clear_verdict_cache()
    cpu, started = _cpu_seconds(), time.perf_counter()
    results = _score_step(mode, step, **settings)
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    report = {"seconds": elapsed, "cpu": cpu, "first_step": first_step, "workers": shared_pool().size, "distinct_slow": distinct}
    print(json.dumps({**report, "results": results}))


def _run(mode, args):
    command = [sys.executable, __file__, "--mode", mode, "--prompts", str(args.prompts), "--rollouts", str(args.rollouts),
               "--seed", str(args.seed), "--slow-timeout", str(args.slow_timeout)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def _benign(args):
    single, batch = _run("single", args), _run("batch", args)
    assert batch["results"] == single["results"], "batch and single-process results differ"
    results = batch["results"]
    count = len(results)
    mean = lambda key: sum(result[key] for result in results) / count  # noqa: E731
    print(f"responses: {count} ({args.prompts} prompts x {args.rollouts}); load average before the run: {os.getloadavg()[0]:.2f}")
    print(f"acc {mean('acc'):.3f}  format {mean('format'):.3f}  verify_failed {mean('verify_failed'):.4f}")
    print(f"first step (worker start-up, cold caches; not timed below): single {single['first_step']:.2f} s, batch {batch['first_step']:.2f} s")
    for name, run in (("single-process loop (compute_score)", single), (f"batch ({batch['workers']} workers)", batch)):
        print(f"{name:38s} {run['seconds']:6.2f} s  ({1e3 * run['seconds'] / count:.2f} ms/response; "
              f"CPU {run['cpu']:.2f} s in parent + workers)")
    print(f"batch / single time ratio: {batch['seconds'] / single['seconds']:.2f}")
    return batch["seconds"]


def _adversarial(args, fast_seconds):
    load = os.getloadavg()[0]
    new, old = _run("adversarial", args), _run("chunked", args)
    differ = [a["verify_failed"] or b["verify_failed"] for a, b in zip(new["results"], old["results"]) if a != b]
    assert all(differ), "batch scheduling and contiguous chunks give different verdicts within the time bound"
    slow = [result["pred"] for result in new["results"] if result["verify_failed"]]
    distinct, workers = len(set(slow)), new["workers"]
    if distinct != new["distinct_slow"] or differ:
        print(f"note: {distinct} distinct checks hit the bound ({new['distinct_slow']} planned); "
              f"{len(differ)} rows hit it in one mode only (a loaded machine)")
    target = math.ceil(distinct / workers) * args.slow_timeout + fast_seconds
    print(f"adversarial step: {len(slow)} slow rows ({distinct} distinct checks), bound {args.slow_timeout:g} s, "
          f"{workers} workers; load average before: {load:.2f}")
    for name, run in (("batch scheduling (compute_score_batch)", new), (f"contiguous chunks of {OLD_CHUNK} (before)", old)):
        print(f"{name:40s} {run['seconds']:6.2f} s  (CPU {run['cpu']:.2f} s in parent + workers)")
    print(f"target ceil({distinct}/{workers}) x {args.slow_timeout:g} s + fast path {fast_seconds:.2f} s = {target:.2f} s: "
          f"{'met' if new['seconds'] <= target else 'MISSED'}; chunks / batch time ratio {old['seconds'] / new['seconds']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow-timeout", type=float, default=2.0, help="math_timeout of the adversarial step (s)")
    parser.add_argument("--mode", choices=["single", "batch", "adversarial", "chunked"], help="internal: one mode here")
    args = parser.parse_args()
    if args.mode:
        measure(args.mode, args)
        return
    _adversarial(args, _benign(args))


if __name__ == "__main__":
    main()
