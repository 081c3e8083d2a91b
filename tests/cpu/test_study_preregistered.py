"""bench/study_preregistered.py on fixed numbers: endpoints and paired comparisons against hand computation,
Student's t quantiles against the printed table, Holm over the comparisons that ran, the learning check, the
arms' endpoints, curves and temperature sweep by hand, and every malformed results folder refused with the file
named."""

import importlib.util
import json
import math
import os
import statistics
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
_spec = importlib.util.spec_from_file_location("study_preregistered", os.path.join(REPO, "bench", "study_preregistered.py"))
pre = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pre)
import study_statistics as stats  # noqa: E402

STEPS = (0, 20, 40)


def summary(method, seed, correct_by_step, greedy_by_step):
    """A run over two prompts: 16 samples each with ``correct_by_step[step]`` = (c1, c2) correct, and greedy
    verdicts ``greedy_by_step[step]`` = (g1, g2); recorded values computed by hand (pass@1 = mean c/16)."""
    sampled = {str(s): {"synthetic_compose/0": [16, c[0]], "synthetic_compose/1": [16, c[1]]} for s, c in correct_by_step.items()}
    greedy = {str(s): {"synthetic_compose/0": [1, g[0]], "synthetic_compose/1": [1, g[1]]} for s, g in greedy_by_step.items()}
    validation = {str(s): {"pass@1": (c[0] + c[1]) / 32, "greedy_pass@1": sum(greedy_by_step[s]) / 2} for s, c in correct_by_step.items()}
    return {"method": method, "seed": seed, "validation": validation, "per_prompt": {"sampled": sampled, "greedy": greedy}}


def write(folder, summaries):
    os.makedirs(folder, exist_ok=True)
    for s in summaries:
        with open(os.path.join(folder, f"{s['method']}-s{s['seed']}.json"), "w") as handle:
            json.dump(s, handle)
    return str(folder)


# correct samples (of 16) on the two prompts at steps 0, 20, 40, per arm and seed
VOGUE = {seed: {0: (2, 0), 20: (4 + seed, 1), 40: (6, seed)} for seed in range(5)}
ENTROPY = {seed: {0: (2, 0), 20: (3, 1), 40: (5, 0)} for seed in range(5)}
GRPO = {seed: {0: (2, 0), 20: (4, 2), 40: (8, 2 + seed)} for seed in range(5)}
GREEDY = {0: (0, 0), 20: (1, 0), 40: (1, 1)}


@pytest.fixture
def results(tmp_path):
    runs = [summary("vogue", s, VOGUE[s], GREEDY) for s in range(5)] + [summary("entropy_only", s, ENTROPY[s], GREEDY) for s in range(5)]
    runs += [summary("grpo", s, GRPO[s], {**GREEDY, 40: (1, s % 2)}) for s in range(5)]
    runs += [summary("grpo_n8", s, GRPO[s], GREEDY) for s in range(3)] + [summary("noisyrollout", s, VOGUE[s], GREEDY) for s in range(3)]
    return write(tmp_path / "results", runs)


def brute_pass_at_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_t_quantiles_match_the_printed_table():
    for df, value in ((1, 12.706205), (2, 4.302653), (4, 2.776445), (10, 2.228139), (30, 2.042272)):
        assert stats.student_t_quantile(0.975, df) == pytest.approx(value, abs=1e-6)
    assert stats.student_t_quantile(0.025, 4) == pytest.approx(-2.776445, abs=1e-6)
    with pytest.raises(ValueError, match="0 < q < 1"):
        stats.student_t_quantile(1.0, 3)


def test_the_primary_endpoint_is_the_paired_mean_over_steps_after_zero(results):
    analysis = pre.analyse(pre.load_summaries(results))
    primary = analysis["comparisons"][0]
    assert (primary["name"], primary["a"], primary["b"], primary["metric"]) == ("primary", "vogue", "entropy_only", "pass@8")

    def endpoint(correct):  # brute force: pass@8 per prompt by combinations, mean over prompts, then over steps 20, 40
        return statistics.fmean(statistics.fmean(brute_pass_at_k(16, c, 8) for c in correct[step]) for step in (20, 40))

    expected = [endpoint(VOGUE[s]) - endpoint(ENTROPY[s]) for s in range(5)]
    assert primary["differences"] == pytest.approx(expected)
    assert primary["mean"] == pytest.approx(statistics.fmean(expected))
    half = 2.776445 * statistics.stdev(expected) / math.sqrt(5)
    assert primary["t_ci"] == pytest.approx((statistics.fmean(expected) - half, statistics.fmean(expected) + half), abs=1e-6)
    assert primary["bootstrap_ci"][0] <= primary["mean"] <= primary["bootstrap_ci"][1]


def test_holm_runs_over_the_comparisons_that_ran_and_a_missing_arm_is_reported(results):
    analysis = pre.analyse(pre.load_summaries(results))
    rows = {row["name"]: row for row in analysis["comparisons"]}
    assert "p" not in rows["S5"] and rows["S5"]["seeds"] == 0  # no visual_only run
    ran = {name: row["p"] for name, row in rows.items() if "p" in row}
    assert len(ran) == 7 and rows["S6"]["seeds"] == 3
    assert {name: rows[name]["holm_p"] for name in ran} == stats.holm(ran)
    text = pre.render(analysis)
    assert "| S5 | visual_only − grpo, pass@8 | 0 | not run |" in text
    assert f"pass@8 {1 - (35 / 36) ** 8:.3f}" in text  # the guesser beside the table


def test_the_learning_check(results):
    learning = pre.analyse(pre.load_summaries(results))["learning"]
    sampled_rises = [((8 + 2 + s) - 2) / 32 for s in range(5)]  # pass@1 at step 40 minus step 0
    assert learning["pass@1"]["mean"] == pytest.approx(statistics.fmean(sampled_rises)) and learning["pass@1"]["passes"]
    greedy_rises = [(1 + s % 2) / 2 for s in range(5)]
    assert learning["greedy_pass@1"]["mean"] == pytest.approx(statistics.fmean(greedy_rises))


def test_arm_endpoints_curves_and_the_temperature_sweep_by_hand(results, tmp_path):
    runs = pre.load_summaries(results)
    grpo_seed0 = next(run for run in runs if run["method"] == "grpo" and run["seed"] == 0)
    grpo_seed0["temperature"] = {"1.5": {"per_prompt": {"a": [4, 1], "b": [4, 0]}}, "1.25": {"per_prompt": {"a": [4, 4], "b": [4, 2]}}}
    analysis = pre.analyse(runs)
    # vogue's pass@1 endpoint per seed: the mean over steps 20 and 40 of the mean c/16 over both prompts
    per_seed = [statistics.fmean((sum(VOGUE[s][step]) / 32) for step in (20, 40)) for s in range(5)]
    mean, interval = analysis["endpoints"]["vogue"]["pass@1"]
    assert mean == pytest.approx(statistics.fmean(per_seed))
    half = 2.776445 * statistics.stdev(per_seed) / math.sqrt(5)
    assert interval == pytest.approx((mean - half, mean + half), abs=1e-6)
    assert analysis["endpoints"]["vogue"]["greedy_pass@1"] == (pytest.approx(0.75), pytest.approx((0.75, 0.75)))
    # the curve of pass@8 at step 20: the mean over seeds of the per-prompt pass@8, then over prompts
    step, value, _ = analysis["curves"]["entropy_only"]["pass@8"][1]
    assert step == 20 and value == pytest.approx(statistics.fmean(brute_pass_at_k(16, c, 8) for c in ENTROPY[0][20]))
    # one run sampled at other temperatures: no interval; pass@k up to the 4 samples, recomputed from the counts
    sweep = analysis["temperatures"]
    assert list(sweep) == ["1.25", "1.5"] and sorted(sweep["1.5"]) == ["pass@1", "pass@2", "pass@4"]
    assert sweep["1.5"]["pass@1"] == (pytest.approx(1 / 8), None)
    assert sweep["1.25"]["pass@2"] == (pytest.approx((1 + brute_pass_at_k(4, 2, 2)) / 2), None)
    text = pre.render(analysis)
    assert f"| vogue | 5 | {mean:.3f} [{interval[0]:.3f}, {interval[1]:.3f}] |" in text
    assert "| uniform guesser (no image) | — | 0.028 | 0.202 | 0.363 | 0.028 |" in text
    assert "| 1.5 | 0.125 | " in text
    pre.plot(analysis, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_flat_grpo_fails_the_learning_check(tmp_path):
    flat = {0: (2, 0), 20: (2, 0), 40: (2, 1)}
    folder = write(tmp_path, [summary("grpo", s, flat if s else {**flat, 40: (2, 0)}, {s_: (0, 0) for s_ in STEPS}) for s in range(3)])
    learning = pre.analyse(pre.load_summaries(folder))["learning"]
    assert not learning["pass@1"]["passes"] and not learning["greedy_pass@1"]["passes"]


@pytest.mark.parametrize("damage, message", [
    (lambda runs: runs[0]["validation"]["20"].update({"pass@1": 0.5}), r"vogue-s0.json: step 20 pass@1 recorded 0.5"),
    (lambda runs: runs[0].pop("per_prompt"), r"vogue-s0.json: not a study run summary \(missing \['per_prompt'\]\)"),
    (lambda runs: [r["per_prompt"]["sampled"].pop("40") for r in runs[:1]], r"vogue-s0.json: validation steps \[0, 20\]|validation steps \[0, 20, 40\]"),
])
def test_damaged_results_are_refused_with_the_file_named(tmp_path, damage, message):
    runs = [summary("vogue", s, VOGUE[s], GREEDY) for s in range(2)]
    damage(runs)
    with pytest.raises(pre.ResultsError, match=message):
        pre.analyse(pre.load_summaries(write(tmp_path, runs)))


def test_the_cli_prints_one_line_errors(tmp_path, capsys):
    assert pre.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"study_preregistered: {tmp_path}: no run summaries (*.json)"
    (tmp_path / "bad.json").write_text("{")
    assert pre.main([str(tmp_path)]) == 2
    assert "bad.json: not JSON" in capsys.readouterr().err


def test_the_cli_writes_the_report(results, tmp_path, capsys):
    out = tmp_path / "report.md"
    assert pre.main([results, "--out", str(out)]) == 0
    assert out.read_text() == capsys.readouterr().out and "| primary | vogue − entropy_only, pass@8 | 5 |" in out.read_text()
