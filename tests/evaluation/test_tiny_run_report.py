"""The main job's console and report pieces (recipe/vogue/cpu/tiny_run.py) on hand-made file-logger
records and validation dumps: no verl run."""

import json
import math

from data_prep.io import write_parquet_atomic
from data_prep.synthetic import make_rows
from recipe.vogue.cpu import tiny_run
from vogue_reward import compute_score


def record(step, **data):
    return {"step": step, "data": data}


def test_progress_lines_show_reward_step_time_and_validation_when_measured():
    acc, passed = tiny_run.ACCURACY_KEY, tiny_run.PASS_KEY
    assert tiny_run.progress_line("grpo", 30, record(0, **{acc: 0.363, passed: 0.7})) == (
        "[grpo] step  0/30  before training  val acc 0.363  pass@4 0.700")
    assert tiny_run.progress_line("vogue", 30, record(7, **{"critic/score/mean": 0.5, "timing_s/step": 4.23})) == (
        "[vogue] step  7/30  reward 0.500  4.2 s/step")
    line = tiny_run.progress_line("grpo", 5, record(5, **{"timing_s/step": 3.0, acc: 0.4}))
    assert line == "[grpo] step 5/5  reward —  3.0 s/step  val acc 0.400  pass@4 —"


def test_metrics_tail_returns_only_complete_new_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    tail = tiny_run._MetricsTail(str(path))
    assert tail.new_records() == []
    path.write_bytes(b'{"step": 0, "data": {}}\n{"step": 1, "da')
    assert tail.new_records() == [{"step": 0, "data": {}}]
    with path.open("ab") as f:
        f.write(b'ta": {"x": 1}}\n')
    assert tail.new_records() == [{"step": 1, "data": {"x": 1}}]
    assert tail.new_records() == []


def test_summary_prints_a_dash_for_what_an_algorithm_does_not_have(capsys):
    acc = tiny_run.ACCURACY_KEY
    records = [record(0, **{acc: 0.3}), record(1, **{"timing_s/step": 2.0, "actor/entropy": 0.5, acc: 0.4})]
    summary = tiny_run.summarize(records)
    assert math.isnan(summary["u_per_mean"]) and math.isnan(summary["val_pass_after"])
    tiny_run.print_summary({"grpo": summary}, 12.0)
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("grpo"))
    assert row.split() == ["grpo", "1", "0.300", "0.400", "—", "—", "0.500", "—", "—", "2.00"]
    assert "nan" not in row


def test_report_reads_the_runs_logs_and_validation_dumps(tmp_path):
    val_file = tmp_path / "data" / "val.parquet"
    rows = make_rows("val", 3, seed=0, size=16)
    write_parquet_atomic(rows, str(val_file))
    for algorithm in ("grpo", "vogue"):
        logs = [record(0, **{tiny_run.ACCURACY_KEY: 0.3}), record(1, **{"critic/score/mean": 0.4, "timing_s/step": 2.0}),
                record(2, **{"critic/score/mean": 0.5, "timing_s/step": 2.0, tiny_run.ACCURACY_KEY: 0.5})]
        (tmp_path / "metrics").mkdir(exist_ok=True)
        (tmp_path / "metrics" / f"{algorithm}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))
        dumps = tmp_path / "validation" / algorithm
        dumps.mkdir(parents=True)
        for step in (0, 2):
            lines = []
            for row in rows:
                truth = row["reward_model"]["ground_truth"]
                for sample in range(4):
                    output = f"<think>t</think>\\boxed{{{truth if sample <= step else 'none'}}}"
                    lines.append({"input": "p", "output": output, "gts": truth, "step": step,
                                  **compute_score(row["data_source"], output, truth, row["extra_info"])})
            (dumps / f"{step}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = tiny_run.write_report(str(tmp_path), ["grpo", "vogue"], str(val_file))
    text = open(report).read()
    assert "| GRPO @ step 0 | 100.0 [100.0, 100.0] |" in text  # pass@4: one of 4 samples right at step 0
    assert "| VOGUE @ step 2 |" in text and "## pass@4 (sampled)" in text
    for image in ("curves.png", "pass_at_k.png"):
        assert (tmp_path / "report" / image).stat().st_size > 10_000
