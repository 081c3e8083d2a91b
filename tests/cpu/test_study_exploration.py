"""bench/study_exploration.py: its aggregation against brute force and hand-computed tables, and (slow) a
smoke study of 2 methods × 1 seed × 3 steps through verl's loop on the CPU backend, resumed once."""

import importlib.util
import itertools
import json
import os
from math import comb

import pytest

from recipe.vogue.evaluation.metrics import GREEDY, Generation, mean_pass_at_k

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("study_exploration", os.path.join(REPO, "bench", "study_exploration.py"))
study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study)


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n responses (c correct) holding a correct one."""
    responses = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(responses[i] for i in subset) for subset in subsets) / len(subsets)


def test_pass_at_k_by_step_matches_brute_force_per_prompt_then_mean():
    outcomes = {0: {"a": [1, 0, 0, 0], "b": [0, 0, 0, 0]}, 5: {"a": [1, 1, 0, 1], "b": [0, 1, 0, 0]}}
    generations = [Generation(data_source="s", row_id=row, acc=float(acc), score=float(acc), step=step)
                   for step, rows in outcomes.items() for row, accs in rows.items() for acc in accs]
    got = study.pass_at_k_by_step(generations, [1, 2, 4])
    assert sorted(got) == [0, 5]
    for step, rows in outcomes.items():
        for k in (1, 2, 4):
            expected = sum(_brute_pass_at_k(len(a), sum(a), k) for a in rows.values()) / len(rows)
            assert got[step][f"pass@{k}"] == pytest.approx(expected, abs=1e-12)
    assert got[0]["pass@2"] == pytest.approx((1 - comb(3, 2) / comb(4, 2)) / 2)


def _summary(method, seed, last, entropy):
    return {"method": method, "seed": seed, "steps": 2, "train_seconds": 30.0,
            "validation": {"0": {"pass@1": 0.5, "greedy_pass@1": 0.5, "pass@8": 0.9, "pass@16": 1.0}, "2": last},
            "train": {"entropy": [[1, 9.0], [2, entropy]], "step_s": [[1, 1.0], [2, 3.0]]}}


def _values(p1):
    return {"pass@1": p1, "greedy_pass@1": p1, "pass@8": 0.8, "pass@16": 0.9}


def test_paired_differences_pair_by_seed_and_final_values_use_the_last_validation(monkeypatch):
    monkeypatch.setattr(study, "LAST_STEPS", 1)
    summaries = [_summary("grpo", 0, _values(0.6), 0.2), _summary("vogue", 1, _values(0.9), 0.4),
                 _summary("grpo", 1, _values(0.5), 0.3), _summary("vogue", 0, _values(0.7), 0.1)]
    assert study.paired_differences(summaries, "pass@1") == {"vogue": [pytest.approx(0.1), pytest.approx(0.4)]}
    assert study.paired_differences(summaries, "entropy_last10") == {"vogue": [pytest.approx(-0.1), pytest.approx(0.1)]}
    final = study.final_values(summaries[0])
    assert final["pass@1"] == 0.6 and final["entropy_last10"] == 0.2 and final["step_s"] == 2.0
    text = study.render(summaries, "python bench/study_exploration.py", 60.0)
    assert "| grpo | 2 | 0.550 ± 0.071 |" in text
    assert "0.250 ± 0.212 [+0.100, +0.400]" in text  # vogue − grpo pass@1 per seed 0, 1
    assert "| vogue | 0.300 ± 0.141 |" in text  # Δ greedy pass@1 from step 0: 0.7 − 0.5, 0.9 − 0.5


def test_unknown_method_and_bad_sizes_are_refused(capsys):
    for argv in (["--methods", "grpo,ppo"], ["--steps", "0"], ["--steps", "10", "--val-every", "3"],
                 ["--temperatures", "hot"], ["--temperatures", "0"], ["--task", "digits"]):
        with pytest.raises(SystemExit):
            study.main(argv)
    assert "unknown methods ['ppo']" in capsys.readouterr().err


@pytest.fixture(scope="module")
def smoke(tiny_assets, tmp_path_factory):
    """2 methods × 1 seed × 3 steps on the compose task (its data generated here; the main job's tiny model,
    whose byte-level tokenizer reads any text), GRPO's final checkpoint also sampled at T = 1.5."""
    from data_prep import synthetic

    _, model_dir = tiny_assets
    work = tmp_path_factory.mktemp("study")
    assert synthetic.main(["--out-dir", str(work / "data"), "--task", "compose", "--train", "64", "--val", "16"]) == 0
    os.symlink(model_dir, work / "model")
    argv = ["--task", "compose", "--work-dir", str(work), "--results-dir", str(work / "results"), "--methods", "grpo,vogue",
            "--seeds", "1", "--first-seed", "7", "--steps", "3", "--val-every", "3", "--val-n", "4", "--temperatures", "1.5"]
    assert study.main(argv) == 0
    return work, argv


@pytest.mark.slow
def test_smoke_study_measures_each_checkpoint_and_writes_the_report(smoke):
    work, _ = smoke
    for method in ("grpo", "vogue"):
        run_dir = work / "runs" / f"{method}-s7"
        summary = json.loads((work / "results" / f"{method}-s7.json").read_text())
        assert summary["task"] == "compose" and sorted(summary["validation"], key=int) == ["0", "3"]
        assert not (run_dir / "checkpoints").exists()
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        logged = {r["step"]: r["data"] for r in records if "val-core/synthetic_compose/acc/pass@4" in r["data"]}
        assert sorted(logged) == [0, 3]
        for step, values in summary["validation"].items():
            # the dumps' pass@k (evaluation.pass_at_k) equals the trainer's logged unbiased pass@k …
            for k in (1, 2, 4):
                assert values[f"pass@{k}"] == pytest.approx(logged[int(step)][f"val-core/synthetic_compose/acc/pass@{k}"])
                # … and the committed per-prompt counts give it back without the responses
                counts = summary["per_prompt"]["sampled"][step].values()
                assert values[f"pass@{k}"] == pytest.approx(mean_pass_at_k([tuple(c) for c in counts], k))
            greedy_counts = summary["per_prompt"]["greedy"][step]
            assert len(greedy_counts) == 16 and all(n == 1 for n, _ in greedy_counts.values())
            assert values["greedy_pass@1"] == pytest.approx(sum(c for _, c in greedy_counts.values()) / 16)
        greedy = [Generation.from_dump(json.loads(line)) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
        assert {g.step for g in greedy if g.decoding == GREEDY} == {0, 3}
        assert [len(summary["train"]["entropy"])] == [3]
    grpo, vogue = (json.loads((work / "results" / f"{m}-s7.json").read_text()) for m in ("grpo", "vogue"))
    # the same initial model, greedy: step 0 is identical for both methods
    assert grpo["validation"]["0"]["greedy_pass@1"] == vogue["validation"]["0"]["greedy_pass@1"]
    assert "u_per" in vogue["train"] and "u_per" not in grpo["train"]
    sweep = grpo["temperature"]["1.5"]
    assert "temperature" not in vogue and all(n == 4 for n, _ in sweep["per_prompt"].values())
    assert sweep["pass@4"] == pytest.approx(mean_pass_at_k([tuple(c) for c in sweep["per_prompt"].values()], 4))
    report = (work / "report" / "study.md").read_text()
    assert "| grpo | 1 |" in report and "| vogue | 1 |" in report and "Paired differences against grpo" in report
    assert f"| uniform guesser (no image) | — | — | {1 / 36:.3f} | — |" in report  # pass@8 needs --val-n >= 8
    assert (work / "report" / "curves.png").stat().st_size > 10_000
    assert "pass@1 (greedy)" in (work / "report" / "evaluation" / "report.md").read_text()


@pytest.mark.slow
def test_a_finished_run_is_not_redone(smoke, capsys):
    work, argv = smoke
    logs = {m: (work / "runs" / f"{m}-s7" / "train.log").stat().st_mtime_ns for m in ("grpo", "vogue")}
    assert study.main(argv) == 0
    assert capsys.readouterr().out.count("finished earlier") == 2
    assert logs == {m: (work / "runs" / f"{m}-s7" / "train.log").stat().st_mtime_ns for m in ("grpo", "vogue")}
