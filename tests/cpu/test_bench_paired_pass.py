"""bench/bench_paired_pass_gpu.py (run on GPU nodes) and bench/bench_vocab_math.py work before anyone spends GPU time on it: its inputs and
positions against hand-built expectations, and the whole script on the tiny Qwen2.5-VL on CPU."""

import importlib.util
import os
import subprocess
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("bench_paired_pass_gpu",
                                               os.path.join(REPO, "bench", "bench_paired_pass_gpu.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_response_index_is_every_position_predicting_a_response_token():
    index = bench.response_index(rows=2, length=6, response=2)
    assert index.tolist() == [3, 4, 9, 10]  # L − R − 1 … L − 2 of each row of 6


def test_inputs_hold_one_image_per_row_with_its_grid(tiny_model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    inputs = bench.build_inputs(config, rows=3, prompt=9, response=4, image_tokens=4, device="cpu",
                                dtype=torch.float32, seed=0)
    ids = inputs["input_ids"]
    assert ids.shape == (3, 13)
    assert ((ids == config.image_token_id).sum(1) == 4).all()
    assert (ids[:, 0] == config.vision_start_token_id).all() and (ids[:, 5] == config.vision_end_token_id).all()
    patches = inputs["patches_per_row"]
    assert patches == 4 * config.vision_config.spatial_merge_size**2
    assert inputs["pixel_values"].shape[0] == 3 * patches == inputs["paired_pixel_values"].shape[0]
    assert not torch.equal(inputs["pixel_values"], inputs["paired_pixel_values"])


def test_the_benchmark_runs_on_the_tiny_model_on_cpu(tiny_model_dir):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "bench_paired_pass_gpu.py"), "--models", tiny_model_dir,
         "--device", "cpu", "--rows", "3", "--prompt", "12", "--response", "5", "--image-tokens", "4", "--chunk", "4",
         "--repeats", "2"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    labels = ["plain forward", "plain forward per row"] + [
        f"{stage} {mode}" for mode in ("eager", "compiled") for stage in ("vogue p=1", "vogue p=1/2", "vocab math/row")]
    for label in labels:
        assert f"{label}:" in result.stdout and "ratio to the plain forward" in result.stdout
    assert "load average before" in result.stdout and "3 rows × 17 tokens = 51 (15 response)" in result.stdout


def test_the_vocab_math_benchmark_compares_both_modes_on_cpu():
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "bench_vocab_math.py"), "--device", "cpu", "--positions", "9",
         "--vocab", "1000", "--chunk", "4", "--repeats", "2", "--threads", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for what in ("probed row", "raw row"):
        for mode in ("eager", "compiled"):
            assert f"{what} {mode:>8}:" in result.stdout
        assert f"{what} compiled/eager:" in result.stdout
    assert "peak above the inputs" in result.stdout and "load average after" in result.stdout
