"""verl's own GRPO loop on the CPU backend with 2 data-parallel ranks, end to end: 2 steps with validation and a
checkpoint (resuming at 2 ranks is covered by test_vogue_e2e.py, through the same trainer)."""

import math
import os
import re

import pytest
import torch

from recipe.vogue.cpu import tiny_run

pytestmark = pytest.mark.slow

SMALL_RUN = [
    *tiny_run.TWO_RANKS,
    "data.train_batch_size=4",
    "actor_rollout_ref.actor.ppo_mini_batch_size=4",
    "actor_rollout_ref.rollout.n=2",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
    "trainer.test_freq=2",
    "trainer.save_freq=2",
    "actor_rollout_ref.actor.checkpoint.save_contents=['model','optimizer','extra','hf_model']",
]


def train(work_dir, data_dir, model_dir, steps, log_name):
    log_path = os.path.join(work_dir, f"{log_name}.log")
    metrics_path = os.path.join(work_dir, f"{log_name}.jsonl")
    records = tiny_run.train("grpo", data_dir, model_dir, work_dir, steps, SMALL_RUN, metrics_path, log_path, timeout=900)
    with open(log_path) as f:
        return records, f.read()


@pytest.fixture(scope="module")
def first_run(tiny_assets, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp("tiny_e2e"))
    data_dir, model_dir = tiny_assets
    records, output = train(work_dir, data_dir, model_dir, steps=2, log_name="first")
    return work_dir, data_dir, model_dir, records, output


def test_two_grpo_steps_log_finite_metrics_and_validate(first_run):
    _, _, _, records, _ = first_run
    train_steps = [r for r in records if "timing_s/step" in r["data"]]
    assert [r["step"] for r in train_steps] == [1, 2]
    for record in train_steps:
        for key in ("actor/pg_loss", "actor/entropy", "actor/grad_norm", "critic/score/mean", "critic/advantages/max"):
            assert math.isfinite(record["data"][key]), (record["step"], key)
    validation_steps = [r["step"] for r in records if tiny_run.ACCURACY_KEY in r["data"]]
    assert validation_steps[0] == 0 and validation_steps[-1] == 2
    summary = tiny_run.summarize(records)
    assert 0.0 <= summary["val_acc_before"] <= 1.0 and summary["step_time_s"] > 0


def test_actor_weights_changed(first_run):
    from safetensors.torch import load_file

    work_dir, _, model_dir, records, _ = first_run
    trained_dir = os.path.join(work_dir, "checkpoints", "grpo", "global_step_2", "actor", "huggingface")
    initial = load_file(os.path.join(model_dir, "model.safetensors"))
    trained = load_file(os.path.join(trained_dir, "model.safetensors"))
    assert set(initial) == set(trained)
    changed = [name for name in initial if not torch.equal(initial[name], trained[name].to(initial[name].dtype))]
    if tiny_run.had_learning_signal(records, 2):
        assert len(changed) > len(initial) // 2, f"only {len(changed)}/{len(initial)} tensors changed"
    else:  # every group tied in both steps
        assert all(r["data"]["actor/grad_norm"] == 0 for r in records if "timing_s/step" in r["data"])
        assert not changed


def test_rollout_server_received_every_update(first_run):
    _, _, _, records, output = first_run
    versions = [int(v) for v in re.findall(r"\[hf-rollout\] replica 0: loaded \d+ tensors, weight version (\d+)", output)]
    # one sync before the first rollout and one after each of the two optimizer steps
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 3, versions
    # rollout log-probs come from the server; after step 1's update they still agree with the actor's
    step_two = next(r["data"] for r in records if r["step"] == 2 and "timing_s/step" in r["data"])
    assert step_two["training/rollout_probs_diff_max"] < 1e-3
