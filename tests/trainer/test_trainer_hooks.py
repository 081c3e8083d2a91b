"""VogueTrainer's hooks on a hand-made batch with a stub actor worker group (no Ray, no model)."""

import pytest
import torch

from recipe.vogue.core.noisy_branch import NoisyBranchError
from recipe.vogue.core.shaping import shape_advantages
from recipe.vogue.core.uncertainty import symmetric_kl_from_sampled
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage

FIXED_HALF = ["vogue.schedule.type=fixed", "vogue.schedule.fixed=0.5"]


def draw_of(trainer, batch):
    """The step's branch draw for ``batch``'s rows (the plan the trainer will use)."""
    return trainer._plan_for(batch)[1]


def mixed_step(make_trainer, make_batch, overrides):
    """The first global step whose draw has both noisy and raw rows (draws are seeded by the step)."""
    for step in range(1, 30):
        trainer = make_trainer(overrides, global_steps=step)
        draw = draw_of(trainer, make_batch())
        if 0 < int(draw.is_noisy.sum()) < len(draw.is_noisy):
            return step
    raise AssertionError("no mixed draw in 30 steps")


def expected_raw(stub_model, batch, function):
    """[B, R] float64 expectation of a stub output under each row's raw pixels."""
    rows = []
    for row, inputs in enumerate(batch.non_tensor_batch["multi_modal_inputs"]):
        signal = stub_model.pixel_signal(inputs)
        rows.append(stub_model.response_aligned(lambda pos, s=signal: function(s, pos), row))
    return torch.stack(rows)


def noisy_signals(call):
    """row -> pixel signal of the perturbed inputs the stub received, for the rows that had any."""
    return {row: inputs["pixel_values"].float().mean().item() for row, inputs in enumerate(call[2]) if inputs is not None}


def grpo(batch):
    batch = compute_advantage(batch, adv_estimator="grpo", num_repeat=3, norm_adv_by_std_in_grpo=True)
    return batch, batch.batch["advantages"].clone()


def test_sampled_mode_one_call_with_perturbed_pixels_only_on_probed_rows(make_trainer, make_batch, stub_model):
    overrides = ["vogue.kl_estimator=sampled", *FIXED_HALF]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, make_batch, overrides))
    batch = make_batch()
    raw_pixels = [inputs["pixel_values"].clone() for inputs in batch.non_tensor_batch["multi_modal_inputs"]]
    out, mfu = trainer._compute_old_log_prob(batch)

    calls = trainer.actor_rollout_wg.calls
    assert [c[0] for c in calls] == ["compute_log_prob_with_noisy_branch"]  # ONE dispatch for the stage
    draw = draw_of(trainer, batch)
    probed = draw.is_probed.nonzero().flatten().tolist()
    assert 0 < len(probed) < len(batch)
    call = calls[0]
    # every row with its raw pixels; noisy inputs (new pixels, same grid) exactly on the probed rows
    assert len(call[1]) == len(batch)
    assert all(torch.equal(c["pixel_values"], r) for c, r in zip(call[1], raw_pixels, strict=True))
    assert [row for row, inputs in enumerate(call[2]) if inputs is not None] == probed
    for row in probed:
        received = call[2][row]
        assert set(received) == {"pixel_values", "image_grid_thw"}  # only what the noisy pass needs is shipped
        assert received["pixel_values"].shape == raw_pixels[row].shape
        assert not torch.equal(received["pixel_values"], raw_pixels[row])
        assert torch.equal(received["image_grid_thw"], batch.non_tensor_batch["multi_modal_inputs"][row]["image_grid_thw"])
    # the batch keeps its raw pixels and gets no stray column
    kept = zip(batch.non_tensor_batch["multi_modal_inputs"], raw_pixels, strict=True)
    assert all(torch.equal(inputs["pixel_values"], pixels) for inputs, pixels in kept)
    assert "paired_multi_modal_inputs" not in batch.non_tensor_batch
    assert mfu == 0.5

    raw_log_probs = expected_raw(stub_model, batch, stub_model.log_prob)
    torch.testing.assert_close(out.batch["old_log_probs"].double(), raw_log_probs, rtol=0, atol=1e-6)
    signals = noisy_signals(call)
    assert torch.equal(out.batch["vogue_is_noisy"], draw.is_noisy)
    for row in range(len(batch)):
        raw_entropy = expected_raw(stub_model, batch, stub_model.entropy)[row]
        if row in signals:
            noisy_lp = stub_model.response_aligned(lambda pos: stub_model.log_prob(signals[row], pos), row)
            u_per = symmetric_kl_from_sampled(raw_log_probs[row].float(), noisy_lp.float(), "sampled")
            torch.testing.assert_close(out.batch["vogue_u_per"][row], u_per, rtol=1e-4, atol=1e-6)
            assert (out.batch["vogue_u_per"][row][: stub_model.response_lens[row]] > 0).all()
        else:
            assert not out.batch["vogue_u_per"][row].any()
        if bool(draw.is_noisy[row]):
            expected_entropy = stub_model.response_aligned(lambda pos: stub_model.entropy(signals[row], pos), row)
        else:
            expected_entropy = raw_entropy
        torch.testing.assert_close(out.batch["vogue_entropy"][row].double(), expected_entropy, rtol=0, atol=1e-5)


def test_update_actor_gets_grpo_plus_core_shaping(make_trainer, make_batch):
    overrides = ["vogue.kl_estimator=sampled", *FIXED_HALF]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, make_batch, overrides))
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
    probed = draw_of(trainer, batch).is_probed
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


@pytest.mark.parametrize("estimator", ["full", "forward_full"])
def test_full_mode_one_call_u_per_from_the_worker(make_trainer, make_batch, stub_model, estimator):
    overrides = [f"vogue.kl_estimator={estimator}", *FIXED_HALF]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, make_batch, overrides))
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    calls = trainer.actor_rollout_wg.calls
    assert [c[0] for c in calls] == ["compute_log_prob_with_noisy_branch"]
    assert trainer.actor_rollout_wg.estimators == [estimator]
    probed = draw_of(trainer, batch).is_probed.nonzero().flatten().tolist()
    raw_inputs = batch.non_tensor_batch["multi_modal_inputs"]
    for row in probed:
        assert torch.equal(calls[0][1][row]["pixel_values"], raw_inputs[row]["pixel_values"])
        assert not torch.equal(calls[0][2][row]["pixel_values"], raw_inputs[row]["pixel_values"])
    torch.testing.assert_close(
        out.batch["old_log_probs"].double(), expected_raw(stub_model, batch, stub_model.log_prob), rtol=0, atol=1e-6
    )
    signals = noisy_signals(calls[0])
    assert sorted(signals) == probed
    for row in range(len(batch)):
        raw_signal = stub_model.pixel_signal(raw_inputs[row])
        expected = (
            stub_model.response_aligned(lambda pos: stub_model.symmetric_kl(raw_signal, signals[row], pos), row)
            if row in signals
            else torch.zeros(stub_model.response_width, dtype=torch.float64)
        )
        torch.testing.assert_close(out.batch["vogue_u_per"][row].double(), expected, rtol=0, atol=1e-6)


def test_first_linear_step_probes_every_row(make_trainer, make_batch):
    trainer = make_trainer(["vogue.kl_estimator=full"], global_steps=1)
    out, _ = trainer._compute_old_log_prob(make_batch())
    assert [c[0] for c in trainer.actor_rollout_wg.calls] == ["compute_log_prob_with_noisy_branch"]
    assert all(inputs is not None for inputs in trainer.actor_rollout_wg.calls[0][2])
    assert trainer._vogue_metrics["vogue/p_noi"] == 1.0
    assert out.batch["vogue_is_noisy"].all()


def test_no_probed_rows_means_no_noisy_inputs(make_trainer, make_batch):
    trainer = make_trainer(["vogue.kl_estimator=sampled"], global_steps=11, total_training_steps=10)
    out, _ = trainer._compute_old_log_prob(make_batch())
    assert [c[0] for c in trainer.actor_rollout_wg.calls] == ["compute_log_prob_with_noisy_branch"]
    assert all(inputs is None for inputs in trainer.actor_rollout_wg.calls[0][2])
    assert trainer._vogue_metrics["vogue/p_noi"] == 0.0
    assert not out.batch["vogue_u_per"].any()
    assert trainer._vogue_metrics["timing_s/vogue_noisy_inputs_wait"] == 0.0


def test_monitored_rows_are_probed_but_shaped_as_raw(make_trainer, make_batch):
    overrides = ["vogue.kl_estimator=sampled", "vogue.schedule.type=fixed", "vogue.schedule.fixed=0.0",
                 "vogue.monitor_fraction=0.9"]
    trainer = make_trainer(overrides, global_steps=2)
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    assert not out.batch["vogue_is_noisy"].any()
    monitored = draw_of(trainer, batch).is_monitor
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
def test_rows_without_an_image_train_as_raw_rows(make_trainer, make_batch, mode, caplog):
    """Mixed text/image batches (legal in verl): text-only rows get z = 0 and u_per = 0, are never sent to the
    noisy pass, are counted in vogue/no_image_frac, and the run warns once."""
    trainer = make_trainer([f"vogue.kl_estimator={mode}"], global_steps=1)  # p_noi = 1: every image row noisy
    with caplog.at_level("WARNING", logger="recipe.vogue.trainer.vogue_trainer"):
        out, _ = trainer._compute_old_log_prob(make_batch(text_only_rows=(1, 4)))
        trainer._compute_old_log_prob(make_batch(text_only_rows=(1, 4)))
    assert out.batch["vogue_is_noisy"].tolist() == [True, False, True, True, False, True]
    assert not out.batch["vogue_u_per"][[1, 4]].any()
    assert out.batch["vogue_u_per"][[0, 2, 3, 5]].sum(-1).gt(0).all()
    sent = trainer.actor_rollout_wg.calls[-1][2]
    assert [inputs is None for inputs in sent] == [False, True, False, False, True, False]
    assert trainer._vogue_metrics["vogue/no_image_frac"] == pytest.approx(2 / 6)
    assert len([r for r in caplog.records if "have no image" in r.getMessage()]) == 1


def test_image_rows_keep_their_draws_next_to_text_only_rows(make_trainer, make_batch):
    overrides = ["vogue.kl_estimator=sampled", *FIXED_HALF]
    step = mixed_step(make_trainer, make_batch, overrides)
    trainer = make_trainer(overrides, global_steps=step)
    all_images = draw_of(trainer, make_batch()).is_noisy
    trainer._plan = None
    mixed = draw_of(trainer, make_batch(text_only_rows=(2,))).is_noisy
    assert not mixed[2]
    keep = [0, 1, 3, 4, 5]
    assert torch.equal(mixed[keep], all_images[keep])


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
        history[step] = (long_run._vogue_metrics["vogue/p_noi"], draw_of(long_run, make_batch()).is_noisy,
                         long_run.actor_rollout_wg.calls[0][2])
    # a resumed run: verl restores global_steps from the checkpoint folder, nothing else
    resumed = make_trainer(overrides, global_steps=4, total_training_steps=8)
    resumed._compute_old_log_prob(make_batch())
    p_noi, draws, noisy_calls = history[4]
    assert resumed._vogue_metrics["vogue/p_noi"] == p_noi == pytest.approx(1 - 3 / 8)
    assert torch.equal(draw_of(resumed, make_batch()).is_noisy, draws)
    resumed_noisy = resumed.actor_rollout_wg.calls[0][2]
    assert [a is None for a in resumed_noisy] == [b is None for b in noisy_calls]
    assert any(a is not None for a in resumed_noisy)
    for a, b in zip(resumed_noisy, noisy_calls, strict=True):
        assert a is None or torch.equal(a["pixel_values"], b["pixel_values"])
    # another seed draws differently somewhere over the run
    other = make_trainer([*overrides, "vogue.seed=7"], total_training_steps=8)
    differs = False
    for step in range(2, 6):
        other.global_steps = step
        differs |= not torch.equal(draw_of(other, make_batch()).is_noisy, history[step][1])
    assert differs


def test_authors_code_preset_end_to_end_on_the_hooks(make_trainer, make_batch, stub_model):
    """dupl_code u_per, sampled-token entropy per branch, one draw per step, g_out capped by |A + g_per|."""
    # p_noi = 1 at step 1: the whole step is noisy; a large α_o makes the |A + g_per| cap bind.
    trainer = make_trainer(["vogue=authors_code", "vogue.alpha_out=50"], global_steps=1)
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    assert out.batch["vogue_is_noisy"].all()
    signals = noisy_signals(trainer.actor_rollout_wg.calls[0])
    assert sorted(signals) == list(range(len(batch)))
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


def released_code_advantages(rewards, mask, uids, raw_lp, aug_lp, use_aug, forward_only):
    """METHOD.md §9 as a token loop (float64): the released code's GRPO (unbiased std, eps 1e−6), its
    F.kl_div surrogate on the sampled token (symmetric, or forward only) × kl_penalty_weight = 1, the
    sign-preserving cap min(|c|, |A|/2)·sign(c) on augmented rows, then ψ = min(0.4·H, |A + c|/2) with
    H = −p·log p of the sampled token under the row's branch."""
    import math
    from collections import defaultdict
    from statistics import mean, stdev

    scores = rewards.sum(-1).tolist()
    groups = defaultdict(list)
    for score, uid in zip(scores, uids, strict=True):
        groups[uid].append(score)
    out = torch.zeros(mask.shape, dtype=torch.float64)
    for row in range(mask.shape[0]):
        adv = (scores[row] - mean(groups[uids[row]])) / (stdev(groups[uids[row]]) + 1e-6)
        for t in range(mask.shape[1]):
            if not mask[row, t]:
                continue
            a, b = math.exp(raw_lp[row, t]), math.exp(aug_lp[row, t])
            forward = a * (math.log(a) - math.log(b + 1e-8))
            kl = forward if forward_only else (forward + b * (math.log(b) - math.log(a + 1e-8))) / 2
            contribution = math.copysign(min(abs(kl), abs(adv) / 2.0), kl) if use_aug[row] else 0.0
            shaped = adv + contribution
            p = b if use_aug[row] else a
            entropy = -p * math.log(p)
            out[row, t] = shaped + min(0.4 * entropy, abs(shaped) / 2.0)
    return out


@pytest.mark.parametrize("forward_only", [False, True], ids=["symmetric", "forward_kl_ablation"])
def test_authors_code_reproduces_the_released_advantages(make_trainer, make_batch, stub_model, forward_only):
    overrides = ["vogue=authors_code", *(["vogue.kl_estimator=forward"] if forward_only else [])]
    trainer = make_trainer(overrides, global_steps=mixed_step(make_trainer, make_batch, overrides))
    batch = make_batch()
    out, _ = trainer._compute_old_log_prob(batch)
    is_noisy = out.batch["vogue_is_noisy"]
    assert is_noisy.tolist() in ([True] * 3 + [False] * 3, [False] * 3 + [True] * 3)  # one draw per DP worker
    probed = is_noisy.nonzero().flatten().tolist()
    signals = noisy_signals(trainer.actor_rollout_wg.calls[0])
    raw_lp = expected_raw(stub_model, batch, stub_model.log_prob)
    aug_lp = raw_lp.clone()
    for row in probed:
        aug_lp[row] = stub_model.response_aligned(lambda pos, s=signals[row]: stub_model.log_prob(s, pos), row)
    batch, _ = grpo(batch.union(out))
    trainer._update_actor(batch)
    expected = released_code_advantages(
        batch.batch["token_level_rewards"], batch.batch["response_mask"].bool(), list(batch.non_tensor_batch["uid"]),
        raw_lp, aug_lp, is_noisy.tolist(), forward_only,
    )
    torch.testing.assert_close(trainer.actor_rollout_wg.updates[0].double(), expected, rtol=0, atol=1e-5)


def test_authors_code_schedule_is_one_based(make_trainer, make_batch):
    for step in (1, 10):
        released = make_trainer(["vogue=authors_code"], global_steps=step, total_training_steps=10)
        released._compute_old_log_prob(make_batch())
        paper = make_trainer([], global_steps=step, total_training_steps=10)
        paper._compute_old_log_prob(make_batch())
        assert released._vogue_metrics["vogue/p_noi"] == pytest.approx(1 - step / 10)
        assert paper._vogue_metrics["vogue/p_noi"] == pytest.approx(1 - (step - 1) / 10)


@pytest.mark.parametrize("shards, dp_size, blocks", [(None, 2, 2), (None, 3, 3), (6, 2, 6), (1, 2, 1)])
def test_worker_granularity_blocks_follow_the_dp_size_or_draw_shards(make_trainer, make_batch, shards, dp_size, blocks):
    overrides = ["vogue.granularity=worker", *FIXED_HALF, *([f"vogue.draw_shards={shards}"] if shards else [])]
    seen = set()
    for step in range(1, 40):
        draw = draw_of(make_trainer(overrides, global_steps=step, dp_size=dp_size), make_batch()).is_noisy
        chunks = draw.reshape(blocks, -1)
        assert all(len(set(chunk.tolist())) == 1 for chunk in chunks)
        seen.add(tuple(chunks[:, 0].tolist()))
    assert len(seen) == 2**blocks if blocks <= 3 else len(seen) > 8  # blocks are drawn independently


def generated_then_balanced(trainer, batch, permutation, uids):
    """What fit() does around generation: the rows (with a rerun's fresh uuid4 uids) go through the wrapped
    rollout manager, which plans the step and stamps each row's generation index; verl's _balance_batch
    then reorders the rows by response length."""
    import numpy as np

    from recipe.vogue.trainer.noisy_inputs import PlannedGeneration

    batch.non_tensor_batch["uid"] = np.array(uids, dtype=object)

    class Manager:  # stands in for verl's agent-loop manager: returns the rows it was given
        def generate_sequences(self, rows):
            return rows

    output = PlannedGeneration(Manager(), trainer._generate).generate_sequences(batch)
    output.reorder(torch.tensor(permutation))
    return output


@pytest.mark.parametrize("granularity", ["sample", "group", "worker"])
def test_draws_and_perturbations_survive_reordering_and_new_uids(make_trainer, make_batch, granularity):
    """A rerun draws new uids and verl's balancing reorders rows by response length; neither may change
    which response is noisy or how its image is perturbed."""
    overrides = ["vogue.kl_estimator=sampled", f"vogue.granularity={granularity}", *FIXED_HALF]
    step = mixed_step(make_trainer, make_batch, overrides)
    first = make_trainer(overrides, global_steps=step)
    out, _ = first._compute_old_log_prob(make_batch())
    rerun = make_trainer(overrides, global_steps=step)
    permutation = [4, 0, 5, 2, 1, 3]
    fresh = ["f0", "f0", "f0", "f1", "f1", "f1"]
    out_rerun, _ = rerun._compute_old_log_prob(generated_then_balanced(rerun, make_batch(), permutation, fresh))
    assert torch.equal(out_rerun.batch["vogue_is_noisy"], out.batch["vogue_is_noisy"][permutation])
    noisy_pixels = {row: inputs["pixel_values"] for row, inputs in enumerate(first.actor_rollout_wg.calls[0][2])
                    if inputs is not None}
    for position, inputs in enumerate(rerun.actor_rollout_wg.calls[0][2]):
        assert (inputs is None) == (permutation[position] not in noisy_pixels)
        if inputs is not None:
            assert torch.equal(inputs["pixel_values"], noisy_pixels[permutation[position]])
    assert len(noisy_pixels) >= 1
    pixels = list(noisy_pixels.values())
    assert all(not torch.equal(a, b) for i, a in enumerate(pixels) for b in pixels[i + 1 :])  # one T per response


def test_the_plan_is_made_before_generation_and_checked_against_the_rows(make_trainer, make_batch):
    """The wrapped manager plans the step from the rows it is about to generate; the old-log-prob stage uses
    that plan (not a new one) and refuses rows that were not the planned ones. Validation passes through."""
    from recipe.vogue.trainer.noisy_inputs import GENERATION_ORDER_KEY, PlannedGeneration

    trainer = make_trainer(["vogue.kl_estimator=sampled", *FIXED_HALF], global_steps=3)
    generated = generated_then_balanced(trainer, make_batch(), [1, 0, 2, 3, 4, 5], list(make_batch().non_tensor_batch["uid"]))
    plan = trainer._plan
    assert generated.batch[GENERATION_ORDER_KEY].tolist() == [1, 0, 2, 3, 4, 5]
    trainer._compute_old_log_prob(generated)
    assert trainer._vogue_metrics["timing_s/vogue_noisy_inputs_wait"] == plan.wait_seconds
    trainer._plan = plan
    stranger = make_batch(uids=["x"] * 3 + ["y"] * 3)
    stranger.batch[GENERATION_ORDER_KEY] = torch.arange(6)
    with pytest.raises(NoisyBranchError, match="not the 6 rows planned before generation"):
        trainer._compute_old_log_prob(stranger)

    class Manager:
        def generate_sequences(self, rows):
            return rows

    trainer._plan = None
    validation = make_batch()
    validation.meta_info["validate"] = True
    out = PlannedGeneration(Manager(), trainer._generate).generate_sequences(validation)
    assert trainer._plan is None and GENERATION_ORDER_KEY not in out.batch.keys()


def test_update_actor_drops_the_generation_order(make_trainer, make_batch):
    from recipe.vogue.trainer.noisy_inputs import GENERATION_ORDER_KEY

    trainer = make_trainer(["vogue.kl_estimator=sampled"])
    batch = generated_then_balanced(trainer, make_batch(), [5, 4, 3, 2, 1, 0], list(make_batch().non_tensor_batch["uid"]))
    out, _ = trainer._compute_old_log_prob(batch)
    batch, _ = grpo(batch.union(out))
    trainer._update_actor(batch)
    assert GENERATION_ORDER_KEY not in batch.batch.keys() and trainer._plan is None


def test_full_estimators_reach_the_worker(make_trainer, make_batch):
    for estimator in ("full", "forward_full"):
        trainer = make_trainer([f"vogue.kl_estimator={estimator}"], global_steps=1)
        trainer._compute_old_log_prob(make_batch())
        assert trainer.actor_rollout_wg.estimators == [estimator]


class AgentLoop:
    """Like verl's agent loop for these tests: each row's multi_modal_inputs come from the images of its
    raw_prompt (processed like the raw ones), and its reward from the batch's token_level_scores."""

    def __init__(self, image_processor):
        self.image_processor, self.seen = image_processor, []

    def generate_sequences(self, rows):
        from recipe.vogue.core.noisy_branch import images_from_messages
        import numpy as np

        inputs = np.empty(len(rows), dtype=object)
        for row, messages in enumerate(rows.non_tensor_batch["raw_prompt"]):
            images = images_from_messages(messages, self.image_processor.patch_size)
            inputs[row] = dict(self.image_processor(images=images, return_tensors="pt")) if images else {}
        self.seen.append(rows)
        output = rows.select_idxs(np.arange(len(rows)))
        output.non_tensor_batch["multi_modal_inputs"] = inputs
        scores = rows.batch["token_level_scores"].clone()
        noisy_group = torch.tensor([str(uid).endswith("#noisy") for uid in rows.non_tensor_batch["uid"]])
        scores[noisy_group] = (rows.batch["token_level_scores"][noisy_group] == 0).float() * rows.batch["response_mask"][
            noisy_group].float()  # the x' group answers the other way
        output.batch["rm_scores"] = scores
        return output


@pytest.mark.parametrize("mode", ["noisy_branch", "paper_two_groups"])
def test_noisy_generation_modes_generate_and_update_under_the_perturbed_image(make_trainer, make_batch, stub_model,
                                                                              image_processor, mode):
    """z_i is drawn before generation; noisy-branch rows are generated from T(image) and their old log-probs
    use those inputs; their paired pass (for u_per) is under the RAW image, their u_out the noisy branch's."""
    from recipe.vogue.trainer.noisy_inputs import PlannedGeneration

    overrides = [f"vogue.rollout_from={mode}", "vogue.kl_estimator=sampled", *FIXED_HALF]
    step = mixed_step(make_trainer, make_batch, overrides)
    trainer = make_trainer(overrides, global_steps=step)
    batch = make_batch()
    raw_pixels = [inputs["pixel_values"] for inputs in batch.non_tensor_batch["multi_modal_inputs"]]
    agent_loop = AgentLoop(image_processor)
    generated = PlannedGeneration(agent_loop, trainer._generate).generate_sequences(batch)
    z = trainer._plan.draw.is_noisy
    assert 0 < int(z.sum()) < len(batch) and torch.equal(trainer._plan.generated_noisy, z)
    assert len(agent_loop.seen[0]) == (2 * len(batch) if mode == "paper_two_groups" else len(batch))
    own = generated.non_tensor_batch["multi_modal_inputs"]
    for row in range(len(batch)):
        assert torch.equal(own[row]["pixel_values"], raw_pixels[row]) != bool(z[row])  # updated under x' iff z_i
    out, _ = trainer._compute_old_log_prob(generated)
    paired = trainer.actor_rollout_wg.calls[0][2]
    for row in range(len(batch)):
        if z[row]:
            # the raw image, shipped in the compute dtype
            assert torch.equal(paired[row]["pixel_values"], raw_pixels[row].to(paired[row]["pixel_values"].dtype))
            expected = stub_model.response_aligned(
                lambda pos, s=stub_model.pixel_signal(own[row]): stub_model.entropy(s, pos), row)
            torch.testing.assert_close(out.batch["vogue_entropy"][row].double(), expected, rtol=0, atol=1e-5)
            assert out.batch["vogue_u_per"][row][: stub_model.response_lens[row]].gt(0).all()
        else:
            assert paired[row] is None
    if mode == "paper_two_groups":
        from recipe.vogue.trainer.rollout_modes import BRANCH_ADVANTAGES_KEY

        batch, grpo_advantages = grpo(generated.union(out))
        branch = batch.batch[BRANCH_ADVANTAGES_KEY].clone()
        trainer._update_actor(batch)
        expected, _ = shape_advantages(branch * batch.batch["response_mask"], batch.batch["response_mask"],
                                       out.batch["vogue_entropy"], out.batch["vogue_u_per"], out.batch["vogue_is_noisy"])
        torch.testing.assert_close(trainer.actor_rollout_wg.updates[0], expected)  # shaping of the branch advantages
        assert not torch.allclose(branch, grpo_advantages)  # (not of GRPO over the kept rows)


def test_noisy_rollout_generates_half_of_each_group_from_noised_images(make_trainer, make_batch, image_processor):
    """n clean + n noisy rollouts (rollout.n = 2n) in one group, all updated on the clean image; the noise
    step follows NoisyRollout's decay; no VOGUE shaping (verl's own log-prob stage and update)."""
    from recipe.vogue.trainer.noisy_inputs import GENERATION_ORDER_KEY, PlannedGeneration
    from recipe.vogue.core.schedule import diffusion_noise_step

    import numpy as np

    overrides = ["vogue.enable=false", "noisyrollout=geo3k", "actor_rollout_ref.rollout.n=2"]
    trainer = make_trainer(overrides, global_steps=3, total_training_steps=10)
    batch = make_batch(uids=["a", "a", "b", "b", "c", "c"], group=2)
    agent_loop = AgentLoop(image_processor)
    generated = PlannedGeneration(agent_loop, trainer._generate).generate_sequences(batch)
    clean = [inputs["pixel_values"] for inputs in batch.non_tensor_batch["multi_modal_inputs"]]
    seen = agent_loop.seen[0].non_tensor_batch["raw_prompt"]
    for row in range(len(batch)):
        generated_from = seen[row][0]["content"][0]["image"]
        original = batch.non_tensor_batch["raw_prompt"][row][0]["content"][0]["image"]
        assert (generated_from is original) == (row % 2 == 0)  # the second of each pair from a noised image
        assert torch.equal(generated.non_tensor_batch["multi_modal_inputs"][row]["pixel_values"], clean[row])
    assert trainer._generation_metrics["noisyrollout/diffusion_step"] == diffusion_noise_step(2, 10, 500, 30.0, 40.0)
    assert trainer._generation_metrics["noisyrollout/noised_frac"] == 0.5
    trainer._compute_old_log_prob(generated)
    assert [c[0] for c in trainer.actor_rollout_wg.calls] == ["compute_log_prob"]  # verl's own
    assert GENERATION_ORDER_KEY in generated.batch.keys() and np.array_equal(
        generated.non_tensor_batch["uid"], np.array(["a", "a", "b", "b", "c", "c"], dtype=object))
