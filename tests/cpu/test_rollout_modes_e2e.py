"""Each rollout mode trains end to end through verl's own loop on the CPU backend with 2 data-parallel ranks
(2 steps each, one run per mode shared by its tests): VOGUE with rollout_from=noisy_branch (on prompts with 2
images: the paper's preset perturbs both) and paper_two_groups, and NoisyRollout."""

import math
import os

import pytest
import torch

from recipe.vogue.cpu import tiny_run
from recipe.vogue.core.schedule import diffusion_noise_step

pytestmark = pytest.mark.slow

STEPS, SCHEDULE_STEPS = 2, 4
MODES = {
    # one draw per data-parallel rank (2 blocks of the generation order)
    "noisy_branch": ["vogue.rollout_from=noisy_branch", "vogue.kl_estimator=full", "vogue.schedule.type=fixed",
                     "vogue.schedule.fixed=0.5", "vogue.granularity=worker"],
    # the paired budget's dynamic micro-batching (~1 row each; verl equalises their number across ranks)
    "paper_two_groups": ["vogue.rollout_from=paper_two_groups", "vogue.kl_estimator=full", "vogue.schedule.type=fixed",
                         "vogue.schedule.fixed=0.5", "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=true",
                         "actor_rollout_ref.actor.use_dynamic_bsz=true", "vogue.paired_max_token_len_per_gpu=160"],
    "noisyrollout": ["vogue.enable=false", "noisyrollout=geo3k", "actor_rollout_ref.rollout.n=4",
                     "actor_rollout_ref.actor.freeze_vision_tower=true", "trainer.save_freq=2",
                     "actor_rollout_ref.actor.checkpoint.save_contents=['model','optimizer','extra','hf_model']"],
}


@pytest.fixture(scope="module", params=sorted(MODES))
def run(request, tiny_assets, two_image_assets, tmp_path_factory):
    mode = request.param
    data_dir, model_dir = two_image_assets if mode == "noisy_branch" else tiny_assets
    work_dir = str(tmp_path_factory.mktemp(f"mode_{mode}"))
    audit_dir = os.path.join(work_dir, "audit")
    overrides = [*tiny_run.TWO_RANKS_SMALL_STEPS, *MODES[mode], f"vogue.audit_dir={audit_dir}", f"trainer.total_training_steps={STEPS}"]
    if mode != "noisyrollout":
        overrides.append(f"vogue.schedule.total_steps={SCHEDULE_STEPS}")
    records = tiny_run.train("vogue", data_dir, model_dir, work_dir, STEPS, overrides,
                             os.path.join(work_dir, "metrics.jsonl"), os.path.join(work_dir, "train.log"), timeout=900)
    steps = [r for r in records if "timing_s/step" in r["data"]]
    return mode, work_dir, model_dir, audit_dir, steps


def audit(audit_dir, step):
    return torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)


def test_the_mode_trains_through_verls_loop(run):
    mode, _, _, _, steps = run
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))
    for record in steps:
        for key in ("actor/pg_loss", "actor/grad_norm", "critic/score/mean", "timing_s/step"):
            assert math.isfinite(record["data"][key]), (mode, record["step"], key)


def test_noisy_generation_modes_record_the_branch_of_every_sample(run):
    mode, _, _, audit_dir, steps = run
    if mode == "noisyrollout":
        pytest.skip("NoisyRollout has no VOGUE branches (tested below)")
    for step in range(1, STEPS + 1):
        record = audit(audit_dir, step)
        noisy = record["is_noisy"].bool()
        assert torch.equal(record["generated_noisy"].bool(), noisy)  # generated from T(image) iff z_i = 1
        mask = record["response_mask"].bool()
        per_row = (record["u_per"] * mask).sum(-1)
        assert (per_row[noisy] > 0).all() and not per_row[~noisy].any()  # u_per vs the raw image's pass
        counts = {uid: record["uid"].count(uid) for uid in record["uid"]}
        assert set(counts.values()) == {2}  # G = rollout.n rows per prompt reach the update
        if mode == "noisy_branch":  # granularity=worker with 2 ranks: 2 blocks of 2 whole prompts each
            assert float(noisy.float().mean()) in (0.0, 0.5, 1.0)
            for uid in counts:
                assert len({bool(noisy[row]) for row, other in enumerate(record["uid"]) if other == uid}) == 1
    assert all("timing_s/vogue_generation_images" in r["data"] for r in steps)


def test_noisy_branch_generates_from_and_probes_both_images_of_a_prompt(run):
    """Under the paper's preset (``images: all``) a row generated from T(images) holds both perturbed images in
    its own inputs and a raw-generated row gets both perturbed in its paired pass: own and paired pixel_values
    differ on each image of every probed row, with the prompt's 2 image grids (a changed grid would have
    stopped the run)."""
    mode, _, _, audit_dir, _ = run
    if mode != "noisy_branch":
        pytest.skip("the mode that trains on 2-image prompts")
    generated_noisy = 0
    for step in range(1, STEPS + 1):
        record = audit(audit_dir, step)
        assert all(len(grid) == 2 for grid in record["image_grid_thw"])
        merged = [int(sum(g.prod() for g in grid)) // 4 for grid in record["image_grid_thw"]]  # 2×2 merge
        assert record["prompt_image_tokens"].tolist() == merged
        noisy = record["is_noisy"].bool()
        assert len(record["changed_images"]) == int(noisy.sum())
        assert all(changed == [True, True] for changed in record["changed_images"].values())
        generated_noisy += int(record["generated_noisy"].sum())
    assert generated_noisy > 0


def test_noisy_rollout_anneals_the_noise_and_freezes_the_vision_tower(run):
    mode, work_dir, model_dir, _, steps = run
    if mode != "noisyrollout":
        pytest.skip("NoisyRollout only")
    for record in steps:
        expected = diffusion_noise_step(record["step"] - 1, STEPS, 500, 30.0, 40.0)
        assert record["data"]["noisyrollout/diffusion_step"] == expected
        assert record["data"]["noisyrollout/noised_frac"] == 0.5
    from safetensors.torch import load_file

    trained = load_file(os.path.join(work_dir, "checkpoints", "vogue", f"global_step_{STEPS}", "actor", "huggingface",
                                     "model.safetensors"))
    initial = load_file(os.path.join(model_dir, "model.safetensors"))
    visual = [name for name in initial if ".visual." in f".{name}"]
    assert visual and all(torch.equal(trained[name].float(), initial[name].float()) for name in visual)
    language_moved = any(not torch.equal(trained[name].float(), initial[name].float())
                         for name in initial if name not in visual)
    assert language_moved == tiny_run.had_learning_signal(steps, STEPS)
