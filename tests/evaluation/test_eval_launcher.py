"""examples/eval.sh: its arguments parse with recipe.vogue.evaluation.run and its overrides compose with the
main_vogue config (PRINT_OVERRIDES=1, no GPU)."""

import os
import subprocess
from pathlib import Path

from recipe.vogue import evaluate as cli
from recipe.vogue.evaluation import run as ev

LAUNCHER = Path(__file__).resolve().parents[2] / "examples" / "eval.sh"


def launcher_arguments(*extra, **env):
    environment = {**os.environ, "PRINT_OVERRIDES": "1", "MODEL_PATH": "/ckpt/global_step_200", "OUT_DIR": "/eval/vogue",
                   "DATA_DIR": "/data", **env}
    result = subprocess.run(["bash", str(LAUNCHER), *extra], env=environment, capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


def test_the_launcher_evaluates_the_six_benchmarks_with_the_papers_sampling():
    args = cli._parse_args(launcher_arguments("data.max_response_length=1024"))
    assert (args.model, args.out, args.shard_size) == ("/ckpt/global_step_200", Path("/eval/vogue"), 1000)
    assert [os.path.basename(path) for path in args.data] == [
        "mathverse_testmini.parquet", "mathvista_testmini.parquet", "wemath_testmini.parquet",
        "hallusionbench_image.parquet", "chartqa_test.parquet", "logicvista_test.parquet"]
    assert args.passes == [ev.Pass("greedy", 1, 0.0, 1.0), ev.Pass("sampled", 16, 0.6, 0.95)]
    assert args.overrides[-1] == "data.max_response_length=1024"  # the caller's overrides come last


def test_the_launchers_overrides_compose_with_main_vogues_config():
    args = cli._parse_args(launcher_arguments(N_GPUS_PER_NODE="4", NNODES="2", N_SAMPLES="8"))
    assert ev.train_batch_size(args.overrides) == 8
    assert args.passes[1].n == 8
