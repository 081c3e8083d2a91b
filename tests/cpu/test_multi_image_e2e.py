"""The authors' code preset (``vogue=authors_code``: only the FIRST image of a prompt perturbed, one draw per
data-parallel worker, the dupl_code u_per surrogate) trains on prompts with 2 images through verl's own fit()
on the CPU backend with 2 ranks, every row probed (p = 1). The paper's preset on 2-image prompts (both images
perturbed, generation from T(images)) is the noisy_branch mode of test_rollout_modes_e2e."""

import math
import os

import pytest
import torch

from recipe.vogue.core.uncertainty import symmetric_kl_from_sampled
from recipe.vogue.cpu import tiny_run

pytestmark = pytest.mark.slow

STEPS = 2


@pytest.fixture(scope="module")
def authors_code_run(two_image_assets, audited_vogue_run):
    steps, audit_dir, _ = audited_vogue_run("authors_code_two_images", two_image_assets, STEPS, [
        "vogue=authors_code", *tiny_run.TWO_RANKS_SMALL_STEPS, "vogue.schedule.type=fixed", "vogue.schedule.fixed=1.0"])
    return steps, audit_dir


def test_two_image_prompts_train_under_the_authors_preset(authors_code_run):
    steps, audit_dir = authors_code_run
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))
    for record in steps:
        assert record["data"]["vogue/p_noi"] == record["data"]["vogue/probed_frac"] == 1.0
        for key in ("actor/pg_loss", "actor/grad_norm", "vogue/u_per_token_mean"):
            assert math.isfinite(record["data"][key]), (record["step"], key)
    for step in range(1, STEPS + 1):
        record = torch.load(os.path.join(audit_dir, f"step_{step}.pt"), weights_only=False)
        assert record["vogue"]["perturbation"]["images"] == "first"
        assert all(len(grid) == 2 for grid in record["image_grid_thw"])
        assert not record["generated_noisy"].any()  # rollouts from the raw images
        assert record["is_noisy"].all() and len(record["changed_images"]) == len(record["uid"])
        # only the first image's patches differ in the paired pass; the grids are the prompt's own
        assert all(changed == [True, False] for changed in record["changed_images"].values())
        # the paired pass saw the change: on every row some response token's log-prob moved (the dupl_code
        # surrogate alone cannot show it: for equal branches it is −1e−8 per token, and a row the perturbation
        # barely moves sums to about that), and u_per is the released code's surrogate of the two branches
        mask = record["response_mask"].bool()
        moved = (record["old_log_probs"] != record["paired_log_probs"]) & mask
        assert moved.any(-1).all()
        expected = symmetric_kl_from_sampled(record["old_log_probs"], record["paired_log_probs"], "dupl_code")
        torch.testing.assert_close(record["u_per"][mask], expected[mask])
