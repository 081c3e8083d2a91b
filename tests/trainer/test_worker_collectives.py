"""The log-prob stage's guarantee with 2 real gloo ranks: per micro-batch, every rank runs the same number of
forwards (each forward stands for FSDP's all-gathers: it all-reduces once) whichever of its rows are probed,
and the values each rank returns are still its rows' own (the dummy forward of a rank without a probed row
changes nothing)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Per micro-batch, the probed rows of rank 0 and rank 1 (4 rows each): every case where the ranks differ.
PROBED = [((), (1,)), ((0, 1, 2, 3), ()), ((2,), (0, 1, 2, 3)), ((), ()), ((1, 3), (0,)), ((0, 1, 2, 3),) * 2]

RANK_SCRIPT = """
import importlib.util, json, sys
from datetime import timedelta
import torch

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

rank, init, here, probed_by_micro_batch = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
conftest = load("trainer_conftest", f"{here}/conftest.py")
math_tests = load("worker_math_tests", f"{here}/test_worker_math.py")
import recipe.vogue.trainer.worker as worker
from verl.workers.utils.padding import no_padding_2_padding
worker.get_device_id = worker.get_device_name = lambda: "cpu"
torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2, timeout=timedelta(seconds=20))

class CountingModel(math_tests.PerTokenVisionLM):
    forwards = 0
    def forward(self, input_ids, pixel_values, **kwargs):
        CountingModel.forwards += 1
        torch.distributed.all_reduce(torch.ones(1))  # what an FSDP forward's all-gathers are to the other rank
        return super().forward(input_ids, pixel_values, **kwargs)

model = CountingModel()
engine = math_tests.make_engine(model)
engine.ulysses_device_mesh = None
counts, mismatches = [], []
for micro_batch, pairs in enumerate(probed_by_micro_batch):
    probed = tuple(pairs[rank])
    data, td = math_tests.make_micro_batch(conftest.rollout_tensors, [3, 5, 2, 4], [4, 1, 6, 3], 1.0, micro_batch % 2 == 0,
                                           seed=micro_batch + 10 * rank, probed=probed)
    before = CountingModel.forwards
    _, output = worker.vogue_forward_step(engine, td, None, True, chunk_size=3, estimator="full")
    counts.append(CountingModel.forwards - before)
    expected = math_tests.reference(model, data, 1.0)
    mask = data.batch["response_mask"].bool()
    for key, value in expected.items():
        got = no_padding_2_padding(output["model_output"][key], td).double()
        if not torch.allclose(got[mask], value[mask], rtol=1e-4, atol=1e-5):
            mismatches.append((micro_batch, key))
print(json.dumps({"rank": rank, "forwards": counts, "mismatches": mismatches}))
"""


def test_every_rank_runs_the_same_forwards_per_micro_batch(tmp_path):
    init = f"file://{tmp_path / 'rendezvous'}"
    argv = [str(HERE), json.dumps(PROBED)]
    ranks = [subprocess.Popen([sys.executable, "-c", RANK_SCRIPT, str(rank), init, *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    outputs = [rank.communicate(timeout=240) for rank in ranks]
    for process, (stdout, stderr) in zip(ranks, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    results = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert results[0]["forwards"] == results[1]["forwards"]
    # 1 forward where no rank probes, 2 everywhere else (a mixed micro-batch included)
    assert results[0]["forwards"] == [1 if not (first or second) else 2 for first, second in PROBED]
    assert results[0]["mismatches"] == results[1]["mismatches"] == []
