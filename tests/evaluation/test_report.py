"""The report on fixture dumps and logs: golden table, plots, checkpoints, the judge path and bad inputs."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from evaluation_fixtures import GOLDEN, SAMPLES, JudgeServer, generations, log_lines, report_arguments, write_jsonl, write_runs
from matplotlib.image import imread

from recipe.vogue.evaluation.metrics import Generation
from recipe.vogue.evaluation.judge import judge_prompt
from recipe.vogue.evaluation.report import load_run, main, parse_input

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_report(capsys, *arguments):
    code = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_reproduces_the_golden_table(tmp_path, capsys):
    out = tmp_path / "report"
    code, printed, _ = run_report(capsys, *report_arguments(write_runs(tmp_path), out))
    assert code == 0
    assert printed.split() == [str(out / name) for name in ("report.md", "report.csv", "curves.png", "pass_at_k.png")]
    for name in ("report.md", "report.csv"):
        assert (out / name).read_text(encoding="utf-8") == (GOLDEN / name).read_text(encoding="utf-8"), (
            f"{name} differs from tests/evaluation/golden/{name} (after an intended change: "
            "python tests/evaluation/evaluation_fixtures.py)"
        )


def test_golden_numbers_agree_with_the_dumps(tmp_path):
    """Spot checks of the golden table against the fixture dumps, computed independently."""
    lines = [line for line in generations(0.45, 11) if line["data_source"] == "mathverse"]
    greedy = np.mean([line["acc"] for line in lines if line["decoding"] == "greedy"])
    sampled = np.mean([line["acc"] for line in lines if line["decoding"] == "sampled"])
    solved = {line["row_id"] for line in lines if line["decoding"] == "sampled" and line["acc"] == 1}
    rows = {line.split(",")[2]: line.split(",")[3] for line in (GOLDEN / "report.csv").read_text().splitlines()
            if line.startswith("GRPO,mathverse,")}
    assert float(rows["pass@1 (greedy)"]) == pytest.approx(greedy, abs=1e-6)
    assert float(rows["pass@1 (sampled)"]) == pytest.approx(sampled, abs=1e-6)
    assert float(rows["pass@4 (sampled)"]) == pytest.approx(len(solved) / 10, abs=1e-6)  # n = k: any right
    assert "| paper Table 1: Qwen2.5-VL-7B + VOGUE/DUPL | 52.1 | 74.2 | 71.1 | 71.0 | 84.0 | 48.7 | 65.8 | 67.9 | 66.9 |" in (
        GOLDEN / "report.md").read_text()


def test_plots_are_non_empty_pngs(tmp_path, capsys):
    out = tmp_path / "report"
    assert run_report(capsys, *report_arguments(write_runs(tmp_path), out))[0] == 0
    for name in ("curves.png", "pass_at_k.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
        pixels = imread(out / name)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 400 and pixels.std() > 0.05


def test_checkpoints_of_one_run_are_rows_and_logs_alone_give_curves(tmp_path, capsys):
    lines = [line for line in generations(0.5, 3) if line["data_source"] == "chartqa"]
    write_jsonl(tmp_path / "val" / "0.jsonl", lines)
    write_jsonl(tmp_path / "val" / "15.jsonl", [dict(line, step=15, acc=1.0) for line in lines])
    code, _, _ = run_report(capsys, f"tiny={tmp_path / 'val'}", "--out", tmp_path / "a", "--k", "1", "4")
    report = (tmp_path / "a" / "report.md").read_text()
    assert code == 0 and "| tiny @ step 0 |" in report and "| tiny @ step 15 | 100.0 [100.0, 100.0] | — | 100.0* | 100.0* |" in report
    assert "## pass@4 (sampled)" in report and "## pass@2 (sampled)" not in report and "## maj@4 (sampled)" in report
    assert "| run | ChartQA | math avg | general avg | overall avg | scored by |" in report
    write_jsonl(tmp_path / "logs" / "grpo.jsonl", log_lines("GRPO"))
    code, printed, _ = run_report(capsys, tmp_path / "logs" / "grpo.jsonl", "--out", tmp_path / "b")
    assert code == 0 and (tmp_path / "b" / "curves.png").exists() and not (tmp_path / "b" / "pass_at_k.png").exists()
    assert "Runs: grpo (0 generations, 5 logged metrics)." in (tmp_path / "b" / "report.md").read_text()


def test_benchmark_metrics_fall_back_to_sampled_draws_and_skip_rows_without_fields(tmp_path, capsys):
    lines = [line for line in generations(0.5, 5) if line["decoding"] == "sampled"]
    lines = [dict(line, extra_info={}) if line["data_source"] == "wemath" else line for line in lines]
    write_jsonl(tmp_path / "sampled.jsonl", lines)
    assert run_report(capsys, tmp_path / "sampled.jsonl", "--out", tmp_path / "out")[0] == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| sampled | sampled, mean over 4 draws |" in report
    assert "sampled: no WeMath metrics (row 'test/0' of wemath has no extra_info.ID, extra_info.key)" in report
    assert "## pass@1 (greedy)" not in report


def test_judge_rescores_every_generation_and_saves_the_judged_dumps(tmp_path, capsys):
    lines = [line for line in generations(0.5, 7) if line["data_source"] == "chartqa"]
    write_jsonl(tmp_path / "run.jsonl", lines)
    with JudgeServer() as server:
        code, _, _ = run_report(capsys, "judged=" + str(tmp_path / "run.jsonl"), "--out", tmp_path / "out",
                                "--judge-url", server.url, "--judge-model", "qwen-judge")
    # each distinct question/reference/answer is asked once
    prompts = {judge_prompt(Generation.from_dump(line)) for line in lines}
    assert code == 0 and len(server.requests) == len(prompts) < len(lines)
    with JudgeServer() as again:  # a rerun reuses the persisted verdicts
        code, _, _ = run_report(capsys, "judged=" + str(tmp_path / "run.jsonl"), "--out", tmp_path / "out",
                                "--judge-url", again.url, "--judge-model", "qwen-judge")
    assert code == 0 and again.requests == []
    judged = [Generation.from_dump(json.loads(line)) for line in (tmp_path / "out" / "judged" / "judged.jsonl").read_text().splitlines()]
    # the server calls a response right when it contains the reference: the fixture's wrong answers never do
    assert [g.acc for g in judged] == [line["acc"] for line in lines]
    assert {g.scorer for g in judged} == {"judge:qwen-judge"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| judged |" in report and "| judge:qwen-judge |" in report and "| rule |" not in report
    assert f"judged: {len(lines)} generations judged by qwen-judge, 0 replies without a verdict" in report


def good_line(**changes):
    return json.dumps({**generations(0.5, 1)[0], **changes})


@pytest.mark.parametrize(
    "content, message",
    [
        (good_line() + "\n{not json\n", r"dump\.jsonl:2: not JSON"),
        (good_line() + "\n" + json.dumps({"input": "q", "output": "a", "score": 1}) + "\n",
         r"dump\.jsonl:2: missing key\(s\) data_source, row_id, acc"),
        (good_line(acc=0.5), r"dump\.jsonl:1: acc must be 0 or 1, got 0\.5"),
        (good_line(decoding="beam"), r"dump\.jsonl:1: decoding must be one of"),
        (good_line(extra_info=[1]), r"dump\.jsonl:1: extra_info must be a JSON object"),
        (good_line(row_id=None), r"dump\.jsonl:1: row_id must be a string or a number"),
        ("\n\n", r"dump\.jsonl: empty file"),
        (json.dumps([1, 2]), r"dump\.jsonl:1: neither an evaluation dump line"),
        (json.dumps({"step": 1, "data": {"a": 1}}) + "\n" + good_line(), r"dump\.jsonl:2: not a file-logger line"),
        (json.dumps({"step": "1", "data": {}}), r"dump\.jsonl:1: not a file-logger line"),
    ],
)
def test_malformed_inputs_name_the_file_and_line(tmp_path, capsys, content, message):
    (tmp_path / "dump.jsonl").write_text(content, encoding="utf-8")
    code, _, error = run_report(capsys, tmp_path / "dump.jsonl", "--out", tmp_path / "out")
    assert code == 2
    assert error.startswith("error: ") and str(tmp_path) in error
    assert re.search(message, error), error
    assert not (tmp_path / "out" / "report.md").exists()


def test_missing_inputs_and_ambiguous_labels(tmp_path, capsys):
    code, _, error = run_report(capsys, tmp_path / "nothing.jsonl", "--out", tmp_path / "out")
    assert code == 2 and "nothing.jsonl: no such file or directory" in error
    (tmp_path / "empty").mkdir()
    code, _, error = run_report(capsys, tmp_path / "empty", "--out", tmp_path / "out")
    assert code == 2 and "empty: no .jsonl files" in error
    write_jsonl(tmp_path / "a" / "run.jsonl", generations(0.5, 1)[:5])
    write_jsonl(tmp_path / "b" / "run.jsonl", generations(0.5, 2)[:5])
    code, _, error = run_report(capsys, tmp_path / "a" / "run.jsonl", tmp_path / "b" / "run.jsonl", "--out", tmp_path / "out")
    assert code == 2 and "two inputs are labelled run: name them LABEL=PATH" in error
    with pytest.raises(SystemExit):
        main([str(tmp_path / "a"), "--out", str(tmp_path / "out"), "--judge-url", "http://127.0.0.1:1"])


def test_labels_and_directories(tmp_path):
    write_jsonl(tmp_path / "x=y" / "nested" / "run.jsonl", generations(0.5, 1)[:3])
    assert parse_input(str(tmp_path / "x=y")) == ("x=y", tmp_path / "x=y")  # an existing path is taken whole
    label, path = parse_input(f"GRPO={tmp_path / 'x=y'}")
    assert label == "GRPO" and len(load_run(label, path).generations) == 3


def test_evaluation_modules_import_no_verl_or_torch():
    code = ("import sys, recipe.vogue.evaluation.metrics, recipe.vogue.evaluation.report, recipe.vogue.evaluation.judge; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'verl', 'torch', 'ray'}), 'matplotlib.pyplot' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[] False"


def test_two_runs_under_one_folder_are_refused_with_their_files(tmp_path, capsys):
    """A folder holding two runs (every answer right in one, wrong in the other) must not become one run at 50 %."""
    folder = tmp_path / "eval"
    write_jsonl(folder / "grpo" / "dump.jsonl", generations(1.0, 0))
    write_jsonl(folder / "vogue" / "dump.jsonl", generations(0.0, 0))
    code, _, error = run_report(capsys, f"both={folder}", "--out", tmp_path / "out")
    assert code == 2 and not (tmp_path / "out").exists()
    assert "several runs answer the same prompts at the same step" in error
    assert f"{folder / 'grpo' / 'dump.jsonl'} and {folder / 'vogue' / 'dump.jsonl'}" in error
    assert len(error.strip().splitlines()) == 1


def test_one_run_may_spread_over_shards_passes_and_checkpoints(tmp_path, capsys):
    lines = generations(0.5, 3)
    prompts = sorted({(line["data_source"], line["row_id"]) for line in lines})
    first = set(prompts[: len(prompts) // 2])
    folder = tmp_path / "run"
    write_jsonl(folder / "shard-0.jsonl", [line for line in lines if (line["data_source"], line["row_id"]) in first])
    write_jsonl(folder / "shard-1.jsonl", [line for line in lines if (line["data_source"], line["row_id"]) not in first])
    write_jsonl(folder / "step_5" / "dump.jsonl", [{**line, "step": 5} for line in lines])  # …or another checkpoint
    code, _, error = run_report(capsys, f"run={folder}", "--out", tmp_path / "out")
    assert code == 0, error
    assert "| run @ step 0 |" in (tmp_path / "out" / "report.md").read_text()


def test_a_k_beyond_the_samples_is_reported_not_estimable(tmp_path, capsys):
    path = write_jsonl(tmp_path / "run.jsonl", generations(0.5, 1))
    code, _, error = run_report(capsys, f"run={path}", "--out", tmp_path / "out", "--k", "1", "100")
    assert code == 0, error
    report = (tmp_path / "out" / "report.md").read_text()
    assert "pass@100 (sampled)" not in report
    assert "run: pass@k and maj@k for k = 100 not estimable on" in report and f"(n = {SAMPLES})" in report


@pytest.mark.parametrize("options, message", [
    (["--judge-url", "http://x/v1", "--judge-model", "m", "--judge-retries", "-1"], "--judge-retries must be >= 0, got -1"),
    (["--judge-url", "http://x/v1", "--judge-model", "m", "--judge-workers", "0"], "--judge-workers must be >= 1, got 0"),
    (["--judge-url", "http://x/v1", "--judge-model", "m", "--judge-timeout", "0"], "--judge-timeout must be > 0 seconds, got 0"),
    (["--judge-url", "http://x/v1", "--judge-model", "m", "--judge-timeout", "-1"], "--judge-timeout must be > 0 seconds, got -1"),
])
def test_judge_options_are_checked_by_name(tmp_path, capsys, options, message):
    path = write_jsonl(tmp_path / "run.jsonl", generations(0.5, 1))
    with pytest.raises(SystemExit):
        main([f"run={path}", "--out", str(tmp_path / "out"), *options])
    assert message in capsys.readouterr().err


def test_an_out_that_cannot_be_a_directory_is_one_line(tmp_path, capsys):
    path = write_jsonl(tmp_path / "run.jsonl", generations(0.5, 1))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in (blocker, blocker / "report"):
        code, _, error = run_report(capsys, f"run={path}", "--out", out)
        assert code == 2 and error.startswith(f"error: --out {out}: cannot make the output directory")
        assert len(error.strip().splitlines()) == 1


def test_each_table_states_its_decoding_and_splits(tmp_path, capsys):
    """From evaluate's settings.json (the VOGUE fixture run has one, GRPO none) and the rows' extra_info.split."""
    out = tmp_path / "report"
    paths = write_runs(tmp_path)
    assert run_report(capsys, *report_arguments(paths, out))[0] == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    greedy = text.split("## pass@1 (greedy)")[1].split("|")[0]
    assert "GRPO: not recorded" in greedy and "VOGUE: T = 0, top-p = 1, n = 1" in greedy and "paper Table 1: greedy" in greedy
    assert "HallusionBench image" in greedy and "ChartQA test" in greedy
    assert "VOGUE: T = 0.6, top-p = 0.95, n = 4" in text.split("## pass@2 (sampled)")[1].split("|")[0]
    (paths["VOGUE"] / "settings.json").write_text("[")
    code, _, error = run_report(capsys, *report_arguments(paths, tmp_path / "again"))
    assert code != 0 and "settings.json: not evaluate's settings" in error
