"""Reward throughput for one step of the paper's run: 2,560 responses (512 prompts × 5 rollouts).

Responses are generated in code (seeded): a realistic mix of answer types (math 60%, choice 20%,
yes/no 8%, number 7%, text 5%) and of outcomes (same form as the ground truth, an equivalent form that
needs sympy, wrong, no box, truncated), each with ~2-4k characters of reasoning. Math answers get fresh
numbers per prompt, so only the rollouts of one prompt can share a cached verdict, as in training. Scores them twice in
one run — ``compute_score`` in a loop (one worker process) and ``compute_score_batch`` (one worker per
CPU) — with the verdict cache cleared and the workers already started before each timing; prints both
times and their ratio, and checks that both give identical results.

    .venv/bin/python bench/bench_reward.py [--prompts 512] [--rollouts 5] [--seed 0]
"""

import argparse
import os
import random
import time

from vogue_reward import compute_score, compute_score_batch, score
from vogue_reward.worker_pool import shared_pool

def _math_answers(rng):
    """(ground truth, equivalent forms, wrong answers) with fresh numbers, so prompts do not share answers."""
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(41, 90)
    templates = [
        (f"{a * b}", [f"{a * b}.0", f"{a * b} \\text{{ cm}}"], [f"{a * b + 1}", f"{a + b}"]),
        (f"\\frac{{{a}}}{{{a + b}}}", [f"{a}/{a + b}", f"\\dfrac{{{2 * a}}}{{{2 * (a + b)}}}"], [f"\\frac{{{a + b}}}{{{a}}}"]),
        (f"{a}\\sqrt{{{b}}}", [f"\\sqrt{{{a * a * b}}}", f"{a} \\sqrt {b}"], [f"{b}\\sqrt{{{a}}}"]),
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


def _timed(function):
    score._symbolic_verdict.cache_clear()
    started = time.perf_counter()
    results = function()
    return time.perf_counter() - started, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sources, responses, truths, infos = make_step(args.prompts, args.rollouts, args.seed)
    load = os.getloadavg()
    pool = shared_pool()
    started = time.perf_counter()
    compute_score_batch(["warm"] * pool.size, ["\\boxed{x+1}"] * pool.size, ["1+x"] * pool.size)  # start workers
    startup = time.perf_counter() - started

    single_time, single = _timed(lambda: [compute_score(*row) for row in zip(sources, responses, truths, infos)])
    batch_time, batch = _timed(lambda: compute_score_batch(sources, responses, truths, infos))
    assert batch == single, "batch and single-process results differ"

    count = len(responses)
    mean = lambda key: sum(result[key] for result in batch) / count  # noqa: E731
    print(f"responses: {count} ({args.prompts} prompts x {args.rollouts}), mean length {sum(map(len, responses)) // count} chars")
    print(f"acc {mean('acc'):.3f}  format {mean('format'):.3f}  verify_failed {mean('verify_failed'):.4f}")
    print(f"load average before the run (other processes on this machine): {load[0]:.2f}")
    print(f"worker start-up ({pool.size} workers, once per process): {startup:.2f} s")
    print(f"single-process loop (compute_score, 1 worker):      {single_time:6.2f} s  ({1e3 * single_time / count:.2f} ms/response)")
    print(f"batch (compute_score_batch, {pool.size} workers on {os.cpu_count()} CPUs): {batch_time:6.2f} s  ({1e3 * batch_time / count:.2f} ms/response)")
    print(f"batch / single time ratio: {batch_time / single_time:.2f}  (speed-up {single_time / batch_time:.2f}x)")


if __name__ == "__main__":
    main()
