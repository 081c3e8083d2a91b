"""VogueTrainer's hooks on a hand-made batch with a stub actor worker group (no Ray, no model)."""

import pytest
import torch

from recipe.vogue.noisy_branch import NoisyBranchError
from recipe.vogue.shaping import shape_advantages
from recipe.vogue.uncertainty import symmetric_kl_from_sampled
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage

FIXED_HALF = ["vogue.schedule.type=fixed", "vogue.schedule.fixed=0.5"]


def mixed_step(make_trainer, overrides):
    """The first global step whose draw has both noisy and raw rows (fixed p = 0.5)."""
    for step in range(1, 30):
        trainer = make_trainer(overrides, global_steps=step)
        draw = trainer._draw_branches(trainer_batch_uids())
        if 0 < int(draw.is_noisy.sum()) < len(draw.is_noisy):
            return step
    raise AssertionError("no mixed draw in 30 steps at p = 0.5")


def trainer_batch_uids():
    from types import SimpleNamespace

    import numpy as np

    return SimpleNamespace(non_tensor_batch={"uid": np.array(["u0", "u0", "u0", "u1", "u1", "u1"], dtype=object)})


def expected_raw(stub_model, batch, function):
    """[B, R] float64 expectation of a stub output under each row's raw pixels."""
    rows = []
    for row, inputs in enumerate(batch.non_tensor_batch["multi_modal_inputs"]):
        signal = stub_model.pixel_signal(inputs)
        rows.append(stub_model.response_aligned(lambda pos, s=signal: function(s, pos), row))
    return torch.stack(rows)


def noisy_signals(call, rows):
    """row -> pixel signal of the perturbed inputs the stub received (the first len(rows) entries)."""
    received = call[2] if call[2] is not None else call[1]
    return {row: received[k]["pixel_values"].float().mean().item() for k, row in enumerate(rows)}


def grpo(batch):
    batch = compute_advantage(batch, adv_estimator="grpo", num_repeat=3, norm_adv_by_std_in_grpo=True)
    return batch, batch.batch["advantages"].clone()


def test_sampled_mode_one_extra_call_with_perturbed_pixels_only_on_probed_rows(make_trainer, make_batch, stub_model):
    overrides = ["vogue.kl_estimator=sampled", *FIXED_HALF]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, overrides))
    batch = make_batch()
    raw_pixels = [inputs["pixel_values"].clone() for inputs in batch.non_tensor_batch["multi_modal_inputs"]]
    out, mfu = trainer._compute_old_log_prob(batch)

    calls = trainer.actor_rollout_wg.calls
    assert [c[0] for c in calls] == ["compute_log_prob", "compute_log_prob"]
    probed = trainer._draw_branches(batch).is_probed.nonzero().flatten().tolist()
    assert 0 < len(probed) < len(batch)
    # the raw pass sees every row with its raw pixels
    assert len(calls[0][1]) == len(batch)
    assert all(torch.equal(c["pixel_values"], r) for c, r in zip(calls[0][1], raw_pixels, strict=True))
    # the extra pass sees exactly the probed rows (padded to the DP size), same tokens, new pixels, same grid
    noisy_call = calls[1]
    assert len(noisy_call[1]) == len(probed) + len(probed) % 2
    raw_ids, noisy_ids = calls[0][3], noisy_call[3]
    for k, row in enumerate(probed):
        received = noisy_call[1][k]
        assert received["pixel_values"].shape == raw_pixels[row].shape
        assert not torch.equal(received["pixel_values"], raw_pixels[row])
        raw_grid = batch.non_tensor_batch["multi_modal_inputs"][row]["image_grid_thw"]
        assert torch.equal(received["image_grid_thw"], raw_grid)
        assert torch.equal(noisy_ids[k], raw_ids[row])
    # the batch keeps its raw pixels
    kept = zip(batch.non_tensor_batch["multi_modal_inputs"], raw_pixels, strict=True)
    assert all(torch.equal(inputs["pixel_values"], pixels) for inputs, pixels in kept)
    assert mfu == 0.25

    raw_log_probs = expected_raw(stub_model, batch, stub_model.log_prob)
    torch.testing.assert_close(out.batch["old_log_probs"].double(), raw_log_probs, rtol=0, atol=1e-6)
    signals = noisy_signals(noisy_call, probed)
    is_noisy = trainer._draw_branches(batch).is_noisy
    assert torch.equal(out.batch["vogue_is_noisy"], is_noisy)
    for row in range(len(batch)):
        raw_entropy = expected_raw(stub_model, batch, stub_model.entropy)[row]
        if row in signals:
            noisy_lp = stub_model.response_aligned(lambda pos: stub_model.log_prob(signals[row], pos), row)
            u_per = symmetric_kl_from_sampled(raw_log_probs[row].float(), noisy_lp.float(), "sampled")
            torch.testing.assert_close(out.batch["vogue_u_per"][row], u_per, rtol=1e-4, atol=1e-6)
            assert (out.batch["vogue_u_per"][row][: stub_model.response_lens[row]] > 0).all()
        else:
            assert not out.batch["vogue_u_per"][row].any()
        if bool(is_noisy[row]):
            expected_entropy = stub_model.response_aligned(lambda pos: stub_model.entropy(signals[row], pos), row)
        else:
            expected_entropy = raw_entropy
        torch.testing.assert_close(out.batch["vogue_entropy"][row].double(), expected_entropy, rtol=0, atol=1e-5)


def test_update_actor_gets_grpo_plus_core_shaping(make_trainer, make_batch):
    overrides = ["vogue.kl_estimator=sampled", *FIXED_HALF]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, overrides))
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    vogue_columns = {k: out.batch[k].clone() for k in ("vogue_entropy", "vogue_u_per", "vogue_is_noisy")}
    batch = batch.union(out)
    batch, advantages = grpo(batch)
    # GRPO by hand for group u0 (scores 1, 0, 1): mean 2/3, unbiased std sqrt(1/3)
    assert advantages[0, 0].item() == pytest.approx((1 - 2 / 3) / (3 ** -0.5 + 1e-6), rel=1e-5)

    output = trainer._update_actor(batch)
    received = trainer.actor_rollout_wg.updates[0]
    expected, _ = shape_advantages(
        advantages, batch.batch["response_mask"], vogue_columns["vogue_entropy"], vogue_columns["vogue_u_per"],
        vogue_columns["vogue_is_noisy"], alpha_out=0.4, beta_out=2.0, alpha_per=1.0, beta_per=2.0,
    )
    torch.testing.assert_close(received, expected)
    # the same by a brute-force loop over tokens (METHOD.md §3)
    mask = batch.batch["response_mask"]
    for row in range(len(batch)):
        for t in range(mask.shape[1]):
            a = advantages[row, t].item()
            if not mask[row, t]:
                assert received[row, t].item() == 0.0
                continue
            bonus = min(abs(a) / 2.0, 0.4 * vogue_columns["vogue_entropy"][row, t].item())
            if vogue_columns["vogue_is_noisy"][row]:
                bonus += min(abs(a) / 2.0, 1.0 * vogue_columns["vogue_u_per"][row, t].item())
            assert received[row, t].item() == pytest.approx(a + bonus, abs=1e-6)
    assert not any(key in batch.batch.keys() for key in vogue_columns)
    metrics = output.meta_info["metrics"]
    for key in ("vogue/p_noi", "vogue/u_per_token_mean", "vogue/u_per_token_max", "vogue/u_per_seq_mean",
                "vogue/u_per_seq_max", "vogue/entropy_raw_mean", "vogue/entropy_noisy_mean", "vogue/g_out_mean",
                "vogue/g_per_mean", "vogue/noisy_frac", "vogue/probed_frac", "vogue/g_out_capped_frac",
                "vogue/g_per_capped_frac"):
        assert key in metrics and torch.isfinite(torch.tensor(metrics[key])), key
    assert metrics["vogue/p_noi"] == 0.5
    probed = trainer._draw_branches(batch).is_probed
    u_tokens = [vogue_columns["vogue_u_per"][r, t].item() for r in range(len(batch)) for t in range(mask.shape[1])
                if probed[r] and mask[r, t]]
    u_per = vogue_columns["vogue_u_per"]
    per_sequence = [u_per[r][mask[r].bool()].mean().item() for r in range(len(batch)) if probed[r]]
    assert metrics["vogue/probed_frac"] == pytest.approx(probed.float().mean().item())
    assert metrics["vogue/u_per_token_mean"] == pytest.approx(sum(u_tokens) / len(u_tokens), rel=1e-5)
    assert metrics["vogue/u_per_token_max"] == pytest.approx(max(u_tokens), rel=1e-6)
    assert metrics["vogue/u_per_seq_max"] == pytest.approx(max(per_sequence), rel=1e-5)
    assert metrics["vogue/u_per_seq_mean"] == pytest.approx(sum(per_sequence) / len(per_sequence), rel=1e-5)
    raw_entropy = batch.batch["entropys"][mask.bool()]  # verl's raw-pass entropy, kept by union in this test
    assert metrics["vogue/entropy_raw_mean"] == pytest.approx(raw_entropy.mean().item(), rel=1e-5)


def test_disabled_is_verl_grpo(make_trainer, make_batch):
    trainer = make_trainer(["vogue.enable=false"])
    batch, reference_batch = make_batch(), make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    reference, _ = RayPPOTrainer._compute_old_log_prob(trainer, reference_batch)
    assert [c[0] for c in trainer.actor_rollout_wg.calls] == ["compute_log_prob", "compute_log_prob"]
    assert set(out.batch.keys()) == set(reference.batch.keys()) == {"old_log_probs", "entropys"}
    assert torch.equal(out.batch["old_log_probs"], reference.batch["old_log_probs"])

    batch, advantages = grpo(batch.union(out))
    trainer._update_actor(batch)
    assert torch.equal(trainer.actor_rollout_wg.updates[0], advantages)


def test_full_mode_pairs_probed_rows_and_merges_raw_rows(make_trainer, make_batch, stub_model):
    overrides = ["vogue.kl_estimator=full", *FIXED_HALF]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, overrides))
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    calls = trainer.actor_rollout_wg.calls
    assert [c[0] for c in calls] == ["compute_log_prob", "compute_log_prob_with_noisy_branch"]
    probed = trainer._draw_branches(batch).is_probed.nonzero().flatten().tolist()
    raw_rows = [row for row in range(len(batch)) if row not in probed]
    assert len(calls[0][1]) == len(raw_rows) + len(raw_rows) % 2
    raw_inputs = batch.non_tensor_batch["multi_modal_inputs"]
    for k, row in enumerate(probed):
        assert torch.equal(calls[1][1][k]["pixel_values"], raw_inputs[row]["pixel_values"])
        assert not torch.equal(calls[1][2][k]["pixel_values"], raw_inputs[row]["pixel_values"])
    torch.testing.assert_close(
        out.batch["old_log_probs"].double(), expected_raw(stub_model, batch, stub_model.log_prob), rtol=0, atol=1e-6
    )
    signals = noisy_signals(calls[1], probed)
    for row in range(len(batch)):
        raw_signal = stub_model.pixel_signal(raw_inputs[row])
        expected = (
            stub_model.response_aligned(lambda pos: stub_model.symmetric_kl(raw_signal, signals[row], pos), row)
            if row in signals
            else torch.zeros(stub_model.response_width, dtype=torch.float64)
        )
        torch.testing.assert_close(out.batch["vogue_u_per"][row].double(), expected, rtol=0, atol=1e-6)


def test_full_mode_first_linear_step_probes_every_row_in_one_call(make_trainer, make_batch):
    trainer = make_trainer(["vogue.kl_estimator=full"], global_steps=1)
    out, _ = trainer._compute_old_log_prob(make_batch())
    assert [c[0] for c in trainer.actor_rollout_wg.calls] == ["compute_log_prob_with_noisy_branch"]
    assert trainer._vogue_metrics["vogue/p_noi"] == 1.0
    assert out.batch["vogue_is_noisy"].all()


def test_no_probed_rows_means_no_extra_call(make_trainer, make_batch):
    trainer = make_trainer(["vogue.kl_estimator=sampled"], global_steps=11, total_training_steps=10)
    out, _ = trainer._compute_old_log_prob(make_batch())
    assert [c[0] for c in trainer.actor_rollout_wg.calls] == ["compute_log_prob"]
    assert trainer._vogue_metrics["vogue/p_noi"] == 0.0
    assert not out.batch["vogue_u_per"].any()


def test_monitored_rows_are_probed_but_shaped_as_raw(make_trainer, make_batch):
    overrides = ["vogue.kl_estimator=sampled", "vogue.schedule.type=fixed", "vogue.schedule.fixed=0.0",
                 "vogue.monitor_fraction=0.9"]
    trainer = make_trainer(overrides, global_steps=2)
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    assert not out.batch["vogue_is_noisy"].any()
    monitored = trainer._draw_branches(batch).is_monitor
    assert monitored.any()
    assert out.batch["vogue_u_per"][monitored].abs().sum() > 0
    batch, advantages = grpo(batch.union(out))
    trainer._update_actor(batch)
    expected, metrics = shape_advantages(
        advantages, batch.batch["response_mask"], out.batch["vogue_entropy"], out.batch["vogue_u_per"],
        torch.zeros(len(batch), dtype=torch.bool),
    )
    torch.testing.assert_close(trainer.actor_rollout_wg.updates[0], expected)
    assert metrics["g_per_mean"] == 0.0


@pytest.mark.parametrize("mode", ["sampled", "full"])
def test_missing_pixel_values_fail_loudly(make_trainer, make_batch, mode):
    trainer = make_trainer([f"vogue.kl_estimator={mode}"], global_steps=1)
    with pytest.raises(NoisyBranchError, match="row 2: multi_modal_inputs has no pixel_values"):
        trainer._compute_old_log_prob(make_batch(drop_pixels_row=2))


def test_processor_that_ignores_the_perturbation_fails_loudly(make_trainer, make_batch):
    trainer = make_trainer(["vogue.kl_estimator=sampled"], global_steps=1)
    batch = make_batch()
    real = trainer.processor.image_processor
    first_raw = batch.non_tensor_batch["multi_modal_inputs"][0]

    def stale_processor(images, **kwargs):  # returns the raw pixels whatever it is given
        return {"pixel_values": first_raw["pixel_values"].clone(), "image_grid_thw": first_raw["image_grid_thw"]}

    stale_processor.patch_size = real.patch_size
    trainer.processor.image_processor = stale_processor
    with pytest.raises(NoisyBranchError, match="row 0: the perturbed pixel_values equal the raw ones"):
        trainer._compute_old_log_prob(batch)


def test_grid_change_fails_loudly(make_trainer, make_batch):
    trainer = make_trainer(["vogue.kl_estimator=sampled"], global_steps=1)
    batch = make_batch()
    batch.non_tensor_batch["multi_modal_inputs"][4] = {
        **batch.non_tensor_batch["multi_modal_inputs"][4],
        "image_grid_thw": torch.tensor([[1, 2, 8]]),
    }
    with pytest.raises(NoisyBranchError, match=r"row 4: image_grid_thw changed"):
        trainer._compute_old_log_prob(batch)


def test_schedule_step_and_draws_survive_resume(make_trainer, make_batch):
    overrides = ["vogue.kl_estimator=sampled"]
    long_run = make_trainer(overrides, global_steps=1, total_training_steps=8)
    history = {}
    for step in range(1, 6):
        long_run.global_steps = step
        long_run.actor_rollout_wg.calls.clear()
        long_run._compute_old_log_prob(make_batch())
        history[step] = (long_run._vogue_metrics["vogue/p_noi"], long_run._draw_branches(make_batch()).is_noisy,
                         [c[1] for c in long_run.actor_rollout_wg.calls[1:]])
    # a resumed run: verl restores global_steps from the checkpoint folder, nothing else
    resumed = make_trainer(overrides, global_steps=4, total_training_steps=8)
    resumed._compute_old_log_prob(make_batch())
    p_noi, draws, noisy_calls = history[4]
    assert resumed._vogue_metrics["vogue/p_noi"] == p_noi == pytest.approx(1 - 3 / 8)
    assert torch.equal(resumed._draw_branches(make_batch()).is_noisy, draws)
    resumed_noisy = resumed.actor_rollout_wg.calls[1:]
    assert len(resumed_noisy) == len(noisy_calls)
    for call, original in zip(resumed_noisy, noisy_calls, strict=True):
        assert all(torch.equal(a["pixel_values"], b["pixel_values"]) for a, b in zip(call[1], original, strict=True))
    # another seed draws differently somewhere over the run
    other = make_trainer([*overrides, "vogue.seed=7"], total_training_steps=8)
    differs = False
    for step in range(2, 6):
        other.global_steps = step
        differs |= not torch.equal(other._draw_branches(make_batch()).is_noisy, history[step][1])
    assert differs


def test_authors_code_preset_end_to_end_on_the_hooks(make_trainer, make_batch, stub_model):
    """dupl_code u_per, sampled-token entropy per branch, one draw per step, g_out capped by |A + g_per|."""
    # p_noi = 1 at step 1: the whole step is noisy; a large α_o makes the |A + g_per| cap bind.
    trainer = make_trainer(["vogue=authors_code", "vogue.alpha_out=50"], global_steps=1)
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    assert out.batch["vogue_is_noisy"].all()
    noisy_call = trainer.actor_rollout_wg.calls[1]
    signals = noisy_signals(noisy_call, list(range(len(batch))))
    raw_lp = expected_raw(stub_model, batch, stub_model.log_prob)
    mask = batch.batch["response_mask"].bool()
    for row in range(len(batch)):
        noisy_lp = stub_model.response_aligned(lambda pos: stub_model.log_prob(signals[row], pos), row)
        a, b = raw_lp[row].exp(), noisy_lp.exp()
        dupl = 0.5 * (a * (raw_lp[row] - torch.log(b + 1e-8)) + b * (noisy_lp - torch.log(a + 1e-8)))
        m = mask[row]
        torch.testing.assert_close(out.batch["vogue_u_per"][row][m].double(), dupl[m], rtol=1e-4, atol=1e-6)
        entropy = out.batch["vogue_entropy"][row][m].double()
        torch.testing.assert_close(entropy, -(b * noisy_lp)[m], rtol=1e-4, atol=1e-6)

    batch, advantages = grpo(batch.union(out))
    trainer._update_actor(batch)
    received = trainer.actor_rollout_wg.updates[0]
    capped_by_shaped = 0
    for row in range(len(batch)):
        for t in range(mask.shape[1]):
            if not mask[row, t]:
                continue
            a = advantages[row, t].item()
            capped_by_shaped += a != 0 and out.batch["vogue_u_per"][row, t].item() > 0
            g_per = min(abs(a) / 2.0, out.batch["vogue_u_per"][row, t].item())
            g_out = min(abs(a + g_per) / 2.0, 50 * out.batch["vogue_entropy"][row, t].item())
            assert received[row, t].item() == pytest.approx(a + g_out + g_per, abs=1e-6)
    assert capped_by_shaped > 0  # the check above distinguishes |A + g_per| from |A|


@pytest.mark.parametrize("rows, dp_size, configured, expected_micro", [([0], 2, 4, 1), ([0, 1, 2], 2, 4, 2), (list(range(5)), 2, 2, 2)])
def test_noisy_subset_pads_to_a_shrunk_micro_batch(make_trainer, make_batch, rows, dp_size, configured, expected_micro):
    """A few probed rows late in the schedule are not padded up to a whole configured micro-batch per rank
    (wasted forwards); verl's infer_batch reads the shrunk size from the subset's meta_info."""
    trainer = make_trainer([f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={configured}"], dp_size=dp_size)
    subset = trainer._padded_subset(make_batch(), rows, {})
    assert subset.meta_info["micro_batch_size_per_gpu"] == expected_micro
    assert len(subset) == -(-len(rows) // (dp_size * expected_micro)) * dp_size * expected_micro
    td = subset.to_tensordict()
    assert td["micro_batch_size_per_gpu"] == expected_micro
