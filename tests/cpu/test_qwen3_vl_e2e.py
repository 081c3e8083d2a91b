"""VOGUE on the tiny Qwen3-VL, end to end on the CPU backend with 2 data-parallel ranks: 2 steps of verl's own loop (paper preset, full
KL through the worker's paired pass) with cpu/tiny_qwen3_vl.yaml. Checks that verl trains it through its
Qwen3-VL path, that the hf rollout's log-probs are the actor's (verl's training/rollout_probs_diff_*),
that every noisy-branch row kept its image grid under the perturbation and got u_per > 0, and that the
rollout server received each weight update."""

import math
import os
import re

import pytest
import torch

from recipe.vogue.cpu import tiny
from recipe.vogue.cpu import tiny_run

pytestmark = pytest.mark.slow

SCHEDULE_STEPS = 10


@pytest.fixture(scope="module")
def qwen3_vl_run(tiny_assets, tmp_path_factory):
    data_dir, _ = tiny_assets
    # warm-started like the main job's model (rewards from the first step, so the first update moves the
    # weights and step 2's rollout/actor agreement covers the weight sync); ~10 s on 2 cores
    model_dir = str(tmp_path_factory.mktemp("tiny_qwen3_vl_warm"))
    build = tiny.build(model_dir, seed=0, arch="qwen3_vl", warm_start_data=os.path.join(data_dir, "train.parquet"))
    work_dir = str(tmp_path_factory.mktemp("qwen3_vl_e2e"))
    audit_dir = os.path.join(work_dir, "audit")
    overrides = [
        "cpu=tiny_qwen3_vl",
        *tiny_run.TWO_RANKS,
        "data.train_batch_size=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.save_freq=-1",
        "vogue.kl_estimator=full",
        # upscale the 56×56 images to 128×128: an 8×8 grid of 16-px patches, 16 image tokens
        f"data.image_min_pixels={128 * 128}",
        f"vogue.schedule.total_steps={SCHEDULE_STEPS}",
        f"vogue.audit_dir={audit_dir}",
    ]
    log_path = os.path.join(work_dir, "vogue.log")
    logged = tiny_run.train("vogue", data_dir, model_dir, work_dir, 2, overrides, os.path.join(work_dir, "vogue.jsonl"),
                            log_path, timeout=900)
    with open(log_path) as f:
        output = f.read()
    records = [r for r in logged if "timing_s/step" in r["data"]]
    return build, records, audit_dir, output


def audit(audit_dir, step):
    return torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)


def test_verl_trains_the_tiny_qwen3_vl_through_its_qwen3_vl_path(qwen3_vl_run):
    build, records, _, output = qwen3_vl_run
    assert build["arch"] == "qwen3_vl" and build["warm_start"]["last_loss"] < build["warm_start"]["first_loss"]
    assert "Monkey patch Qwen3VLForConditionalGeneration model forward" in output  # verl's own Qwen3-VL patch
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        data = record["data"]
        for key in ("actor/pg_loss", "actor/entropy", "actor/grad_norm", "critic/score/mean", "vogue/u_per_token_mean",
                    "vogue/g_out_mean", "vogue/g_per_mean", "vogue/entropy_noisy_mean"):
            assert math.isfinite(data[key]), (record["step"], key)
        assert data["vogue/p_noi"] == pytest.approx(1 - (record["step"] - 1) / SCHEDULE_STEPS)
    assert records[0]["data"]["vogue/noisy_frac"] == 1.0  # p_noi(0) = 1: every row takes the noisy pass


def test_rollout_log_probs_are_the_actors_before_and_after_an_update(qwen3_vl_run):
    """The hf rollout computes Qwen3-VL's 3D positions as verl's actor does, and the weight sync reaches it."""
    _, records, _, output = qwen3_vl_run
    for record in records:
        assert record["data"]["training/rollout_probs_diff_max"] < 1e-4, record["step"]
    versions = [int(v) for v in re.findall(r"\[hf-rollout\] replica 0: loaded \d+ tensors, weight version (\d+)", output)]
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 2, versions


def test_noisy_branch_rows_keep_their_grid_and_get_u_per(qwen3_vl_run):
    """Every row's image is an 8×8 grid of 16-px patches, 16 prompt image tokens (the 32-px factor); the
    noisy pass ran on the perturbed pixels of that grid (a changed grid raises NoisyBranchError) and gave
    every noisy row u_per > 0; the exact symmetric KL is never negative."""
    _, _, audit_dir, _ = qwen3_vl_run
    for step in (1, 2):
        record = audit(audit_dir, step)
        assert record["has_image"].all()
        assert [grid.tolist() for grid in record["image_grid_thw"]] == [[[1, 8, 8]]] * len(record["has_image"])
        assert record["prompt_image_tokens"].tolist() == [16] * len(record["has_image"])
        mask = record["response_mask"].bool()
        per_row = (record["u_per"] * mask).sum(-1)
        noisy = record["is_noisy"].bool()
        assert noisy.any() and (per_row[noisy] > 0).all() and not per_row[~noisy].any()
        assert (record["u_per"][mask] >= -1e-6).all()
        assert len(record["perturbations"]) == int(noisy.sum())  # one perturbation per noisy response
