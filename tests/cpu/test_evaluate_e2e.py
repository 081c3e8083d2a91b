"""python -m recipe.vogue.evaluate end to end on the CPU backend: the tiny model as a verl FSDP checkpoint
(merged by verl's model merger), a synthetic "benchmark" of 12 validation rows, a greedy and a sampled
pass (n = 4), the report; then the same command again, which skips every finished shard."""

import json
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from recipe.vogue.cpu.tiny_run import REPO_ROOT, cpu_environment
from recipe.vogue.evaluation.metrics import Generation

pytestmark = pytest.mark.slow

ROWS, SAMPLES, STEP = 12, 4, 3


@pytest.fixture(scope="module")
def checkpoint(tiny_assets, tmp_path_factory):
    """The tiny model in the layout verl's FSDP checkpoint manager writes for one rank: global_step_N/actor/
    with model_world_size_1_rank_0.pt, fsdp_config.json and huggingface/ (config, tokenizer, processor)."""
    _, model_dir = tiny_assets
    actor = tmp_path_factory.mktemp("checkpoints") / f"global_step_{STEP}" / "actor"
    shutil.copytree(model_dir, actor / "huggingface", ignore=shutil.ignore_patterns("*.safetensors"))
    torch.save(load_file(f"{model_dir}/model.safetensors"), actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 1}))
    return actor.parent


@pytest.fixture(scope="module")
def evaluated(tiny_assets, checkpoint, tmp_path_factory):
    data_dir, _ = tiny_assets
    work = tmp_path_factory.mktemp("evaluate")
    benchmark = work / "shapes_bench.parquet"
    pq.write_table(pq.read_table(f"{data_dir}/val.parquet").slice(0, ROWS), benchmark)
    command = [sys.executable, "-m", "recipe.vogue.evaluate", "--cpu", "--model", str(checkpoint), "--data", str(benchmark),
               "--out", str(work / "out"), "--n", str(SAMPLES), "--shard-size", str(ROWS)]
    outputs = []
    for _ in range(2):
        result = subprocess.run(command, env=cpu_environment(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        outputs.append(result.stdout)
    return work / "out", outputs


def test_both_passes_dump_every_row_with_its_identity(evaluated):
    out, (first, _) = evaluated
    assert "[eval] merging" in first
    assert f"[eval] greedy 1/1 shapes_bench-0000: {ROWS} rows, {ROWS} responses" in first
    assert f"[eval] sampled 1/1 shapes_bench-0000: {ROWS} rows, {ROWS * SAMPLES} responses" in first
    for decoding, per_row in (("greedy", 1), ("sampled", SAMPLES)):
        lines = (out / "generations" / decoding / "shapes_bench-0000.jsonl").read_text().splitlines()
        generations = [Generation.from_dump(json.loads(line)) for line in lines]
        assert sorted(int(g.row_id) for g in generations) == sorted(list(range(ROWS)) * per_row)
        for g in generations:
            assert (g.decoding, g.step, g.data_source) == (decoding, STEP, "synthetic_shapes")
            assert g.extra_info["index"] == int(g.row_id) and g.extra_info["question"] in g.input  # joined to its own prompt


def test_the_checkpoint_was_merged_by_verl_into_the_same_weights_in_bfloat16(evaluated, tiny_assets):
    out, _ = evaluated  # verl's merger casts every tensor to bfloat16 (the tiny model is fp32)
    original = load_file(f"{tiny_assets[1]}/model.safetensors")
    merged = load_file(str(out / "model" / "model.safetensors"))
    assert set(merged) == set(original)
    assert all(torch.equal(merged[name], original[name].to(torch.bfloat16)) for name in original)


def test_validation_metrics_are_the_unbiased_ones(evaluated):
    out, _ = evaluated
    log = (out / "logs" / "sampled" / "shapes_bench-0000.log").read_text()
    assert f"val-core/synthetic_shapes/acc/pass@{SAMPLES}" in log and "best@" not in log


def test_the_report_has_the_tables_and_a_non_empty_plot(evaluated):
    out, (first, _) = evaluated
    assert f"[eval] report: {out / 'report' / 'report.md'}" in first
    text = (out / "report" / "report.md").read_text()
    for section in ("## pass@1 (greedy)", f"## pass@{SAMPLES} (sampled)", f"## maj@{SAMPLES} (sampled)", "![pass_at_k.png]"):
        assert section in text
    assert f"| out | synthetic_shapes | {ROWS} | {ROWS} | {ROWS * SAMPLES} | rule |" in text
    assert (out / "report" / "pass_at_k.png").stat().st_size > 10_000


def test_a_second_invocation_skips_every_finished_shard(evaluated):
    _, (_, second) = evaluated
    assert "[eval] greedy 1/1 shapes_bench-0000: done earlier, skipped" in second
    assert "[eval] sampled 1/1 shapes_bench-0000: done earlier, skipped" in second
    assert "merging" not in second and "[eval] report:" in second
