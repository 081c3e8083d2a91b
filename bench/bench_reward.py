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

    .venv/bin/python bench/bench_reward.py [--prompts 512] [--rollouts 5] [--seed 0]
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

from vogue_reward import compute_score, compute_score_batch, score
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


def _score_step(mode, step):
    if mode == "single":
        return [compute_score(*row) for row in zip(*step)]
    return compute_score_batch(*step)


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


def measure(mode, prompts, rollouts, seed):
    """In a fresh process: one untimed step (seed + 1) starts and warms the workers, as the steps
    before it do in training; then the verdict cache is cleared and step ``seed`` is timed."""
    started = time.perf_counter()
    _score_step(mode, make_step(prompts, rollouts, seed + 1))
    first_step = time.perf_counter() - started
    step = make_step(prompts, rollouts, seed)
    score._symbolic_verdict.cache_clear()
    cpu, started = _cpu_seconds(), time.perf_counter()
    results = _score_step(mode, step)
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    report = {"seconds": elapsed, "cpu": cpu, "first_step": first_step, "workers": shared_pool().size}
    print(json.dumps({**report, "results": results}))


def _run(mode, args):
    command = [sys.executable, __file__, "--mode", mode, "--prompts", str(args.prompts),
               "--rollouts", str(args.rollouts), "--seed", str(args.seed)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["single", "batch"], help="internal: measure one mode in this process")
    args = parser.parse_args()
    if args.mode:
        measure(args.mode, args.prompts, args.rollouts, args.seed)
        return
    load = os.getloadavg()
    single, batch = _run("single", args), _run("batch", args)
    assert batch["results"] == single["results"], "batch and single-process results differ"
    results = batch["results"]
    count = len(results)
    mean = lambda key: sum(result[key] for result in results) / count  # noqa: E731
    print(f"responses: {count} ({args.prompts} prompts x {args.rollouts}); load average before the run: {load[0]:.2f}")
    print(f"acc {mean('acc'):.3f}  format {mean('format'):.3f}  verify_failed {mean('verify_failed'):.4f}")
    print(f"first step (worker start-up, cold caches; not timed below): single {single['first_step']:.2f} s, batch {batch['first_step']:.2f} s")
    for name, run in (("single-process loop (compute_score)", single), (f"batch ({batch['workers']} workers)", batch)):
        print(f"{name:38s} {run['seconds']:6.2f} s  ({1e3 * run['seconds'] / count:.2f} ms/response; "
              f"CPU {run['cpu']:.2f} s in parent + workers)")
    print(f"batch / single time ratio: {batch['seconds'] / single['seconds']:.2f}")


if __name__ == "__main__":
    main()
