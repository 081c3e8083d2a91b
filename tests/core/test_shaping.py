import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from recipe.vogue.core.shaping import rows_in_tied_groups, shape_advantages
from recipe.vogue.core.uncertainty import kl_from_logits, symmetric_kl_from_sampled


def signed_cap(x, cap):
    """sign(x)·min(|x|, cap), written out by cases."""
    if x > cap:
        return cap
    if x < -cap:
        return -cap
    return x


def brute_force_shaping(adv, mask, entropy, uncertainty, is_noisy, a_o, b_o, a_p, b_p, cap_base):
    """Token-by-token loop over the equations of METHOD.md §3 and §9 (independent of the vectorised code)."""
    rows, cols = adv.shape
    out = torch.zeros(rows, cols, dtype=torch.float64)
    for i in range(rows):
        for t in range(cols):
            if not mask[i, t]:
                continue
            a = float(adv[i, t])
            g_per = signed_cap(a_p * float(uncertainty[i, t]), abs(a) / b_p) if is_noisy[i] else 0.0
            cap_source = a + g_per if cap_base == "shaped" else a
            g_out = signed_cap(a_o * float(entropy[i, t]), abs(cap_source) / b_o)
            out[i, t] = a + g_out + g_per
    return out


def make_batch(seed, rows=6, cols=9):
    gen = torch.Generator().manual_seed(seed)
    adv = torch.randn(rows, 1, generator=gen).expand(rows, cols).clone()
    adv[0] = 0.0  # an all-correct / all-wrong group
    lengths = torch.randint(1, cols + 1, (rows,), generator=gen)
    mask = (torch.arange(cols)[None, :] < lengths[:, None]).float()
    adv = adv * mask
    entropy = torch.rand(rows, cols, generator=gen) * 3
    uncertainty = torch.rand(rows, cols, generator=gen) * 2
    is_noisy = torch.rand(rows, generator=gen) < 0.5
    is_noisy[1], is_noisy[2] = True, False
    return adv, mask, entropy, uncertainty, is_noisy


def test_hand_computed_table():
    adv = torch.tensor([[1.0, 1.0], [-2.0, -2.0], [0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    entropy = torch.tensor([[0.5, 3.0], [1.0, 0.1], [9.0, 9.0]])
    u_per = torch.tensor([[9.0, 9.0], [0.3, 5.0], [0.1, 9.0]])
    is_noisy = torch.tensor([False, True, True])
    shaped, metrics = shape_advantages(adv, mask, entropy, u_per, is_noisy)
    # row 0 (raw):   g_out = min(1/2, 0.4·0.5)=0.2 | min(1/2, 1.2)=0.5
    # row 1 (noisy): g_per = min(1, 0.3)=0.3 | min(1, 5)=1;  g_out = min(1, 0.4)=0.4 | min(1, 0.04)=0.04
    # row 2 (noisy): g_per = min(0.25, 0.1)=0.1; g_out = min(0.25, 3.6)=0.25; masked token stays 0
    expected = torch.tensor([[1.2, 1.5], [-2.0 + 0.3 + 0.4, -2.0 + 1.0 + 0.04], [0.5 + 0.1 + 0.25, 0.0]])
    torch.testing.assert_close(shaped, expected)
    assert metrics["noisy_frac"] == pytest.approx(2 / 3)
    assert metrics["g_per_mean"] == pytest.approx((0.3 + 1.0 + 0.1) / 3)
    assert metrics["g_out_capped_frac"] == pytest.approx(2 / 5)  # row 0 token 1, row 2 token 0
    assert metrics["g_per_capped_frac"] == pytest.approx(1 / 3)  # row 1 token 1


def test_authors_code_caps_entropy_bonus_by_shaped_advantage():
    adv = torch.tensor([[-1.0]])
    shaped, _ = shape_advantages(
        adv, torch.ones(1, 1), torch.tensor([[10.0]]), torch.tensor([[0.4]]), torch.tensor([True]), cap_base="shaped"
    )
    # g_per = min(0.5, 0.4) = 0.4; g_out = min(|−1 + 0.4|/2, 4) = 0.3
    torch.testing.assert_close(shaped, torch.tensor([[-1.0 + 0.4 + 0.3]]))


@pytest.mark.parametrize("cap_base", ["advantage", "shaped"])
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_loop(seed, cap_base):
    adv, mask, entropy, uncertainty, is_noisy = make_batch(seed)
    coefficients = dict(alpha_out=0.4, beta_out=2.0, alpha_per=1.0, beta_per=2.0)
    shaped, _ = shape_advantages(adv, mask, entropy, uncertainty, is_noisy, cap_base=cap_base, **coefficients)
    expected = brute_force_shaping(adv, mask, entropy, uncertainty, is_noisy, 0.4, 2.0, 1.0, 2.0, cap_base)
    torch.testing.assert_close(shaped.double(), expected, rtol=1e-6, atol=1e-6)


finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    adv_scale=st.floats(0.0, 5.0, **finite),
    alpha_out=st.floats(0.0, 3.0, **finite),
    alpha_per=st.floats(0.0, 3.0, **finite),
    beta_out=st.floats(2.0, 10.0, **finite),
    beta_per=st.floats(2.0, 10.0, **finite),
    cap_base=st.sampled_from(["advantage", "shaped"]),
)
def test_shaping_properties(seed, adv_scale, alpha_out, alpha_per, beta_out, beta_per, cap_base):
    adv, mask, entropy, uncertainty, is_noisy = make_batch(seed)
    adv = adv * adv_scale
    shaped, _ = shape_advantages(
        adv, mask, entropy, uncertainty, is_noisy, alpha_out, beta_out, alpha_per, beta_per, cap_base
    )
    bonus = shaped - adv
    tol = 1e-5
    on = mask.bool()
    assert (shaped[~on] == 0).all()  # masked positions stay 0
    assert (bonus[on] >= -tol).all()  # bonuses are non-negative
    assert (shaped * adv >= -tol).all()  # the sign of A is never flipped (1/β_o + 1/β_p ≤ 1)
    assert (bonus[on & (adv == 0)].abs() <= tol).all()  # no bonus without a learning signal
    z = is_noisy[:, None].float()
    per_cap = adv.abs() / beta_per * z
    out_cap = (adv.abs() + per_cap) / beta_out if cap_base == "shaped" else adv.abs() / beta_out
    assert (bonus <= out_cap + per_cap + tol).all()  # each bonus is at most its cap
    raw_rows = ~is_noisy
    assert (bonus[raw_rows] <= adv[raw_rows].abs() / beta_out + tol).all()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_uncertainty_only_matters_on_noisy_rows(seed):
    adv, mask, entropy, uncertainty, is_noisy = make_batch(seed)
    assume(bool((~is_noisy).any()))
    changed = uncertainty.clone()
    changed[~is_noisy] = 1e6
    first, _ = shape_advantages(adv, mask, entropy, uncertainty, is_noisy)
    second, _ = shape_advantages(adv, mask, entropy, changed, is_noisy)
    torch.testing.assert_close(first, second)
    all_raw, _ = shape_advantages(adv, mask, entropy, uncertainty, torch.zeros_like(is_noisy))
    no_per, _ = shape_advantages(adv, mask, entropy, uncertainty, is_noisy, alpha_per=0.0)
    torch.testing.assert_close(all_raw, no_per)


def test_zero_alphas_give_plain_grpo():
    adv, mask, entropy, uncertainty, is_noisy = make_batch(3)
    shaped, metrics = shape_advantages(adv, mask, entropy, uncertainty, is_noisy, alpha_out=0.0, alpha_per=0.0)
    torch.testing.assert_close(shaped, adv)
    assert metrics["g_out_mean"] == 0 and metrics["g_per_mean"] == 0


def test_forward_kl_ablation_can_lower_the_advantage():
    shaped, _ = shape_advantages(
        torch.tensor([[1.0], [-1.0], [1.0]]), torch.ones(3, 1), torch.zeros(3, 1), torch.tensor([[-0.3], [-5.0], [-5.0]]),
        torch.tensor([True, True, True]),
    )
    # g_per = sign(u)·min(|u|, |A|/2): −0.3, then −0.5 (the cap binds on both sides of 0)
    torch.testing.assert_close(shaped, torch.tensor([[0.7], [-1.5], [0.5]]))


@pytest.mark.parametrize("estimator", ["full", "forward_full", "sampled", "dupl_code", "forward"])
@pytest.mark.parametrize("cap_base", ["advantage", "shaped"])
def test_every_estimator_keeps_the_shaping_properties(estimator, cap_base):
    """A = 0 ⇒ Â = A exactly, sign never flipped, |g_per| ≤ |A|/β_p — whatever sign u_per takes — and the
    vectorised shaping equals the brute-force loop, on u_per produced by each estimator."""
    gen = torch.Generator().manual_seed(40)
    rows, cols, vocab = 12, 7, 30
    raw = torch.randn(rows, cols, vocab, generator=gen) * 2
    noisy = raw + torch.randn(rows, cols, vocab, generator=gen) * torch.tensor([0.0, 1e-4, 0.5, 2.0]).repeat(3)[:, None, None]
    if estimator in ("full", "forward_full"):
        u_per = kl_from_logits(estimator, raw, noisy, chunk_size=5, temperature=1.0)
    else:
        tokens = torch.randint(vocab, (rows, cols, 1), generator=gen)
        log_p = torch.log_softmax(raw, -1).gather(-1, tokens).squeeze(-1)
        log_q = torch.log_softmax(noisy, -1).gather(-1, tokens).squeeze(-1)
        u_per = symmetric_kl_from_sampled(log_p, log_q, estimator)
    adv = (torch.randn(rows, 1, generator=gen) * 2).expand(rows, cols).clone()
    adv[::3] = 0.0  # all-correct / all-wrong groups, including rows where q = p
    mask = torch.ones(rows, cols)
    mask[5, 4:] = 0
    adv = adv * mask
    entropy = torch.rand(rows, cols, generator=gen) * 4
    is_noisy = torch.ones(rows, dtype=torch.bool)
    is_noisy[1::4] = False
    shaped, _ = shape_advantages(adv, mask, entropy, u_per, is_noisy, alpha_per=50.0, cap_base=cap_base)
    expected = brute_force_shaping(adv, mask, entropy, u_per, is_noisy, 0.4, 2.0, 50.0, 2.0, cap_base)
    torch.testing.assert_close(shaped.double(), expected, rtol=1e-6, atol=1e-7)
    zero = adv == 0
    assert torch.equal(shaped[zero], adv[zero])  # exactly, not approximately
    assert (shaped * adv >= 0).all()
    no_out, _ = shape_advantages(adv, mask, entropy, u_per, is_noisy, alpha_out=0.0, alpha_per=50.0, cap_base=cap_base)
    assert ((no_out - adv).abs() <= adv.abs() / 2.0 + 1e-6).all()


def test_inputs_are_detached():
    adv, mask, entropy, uncertainty, is_noisy = make_batch(1)
    entropy.requires_grad_(True)
    uncertainty.requires_grad_(True)
    shaped, _ = shape_advantages(adv.requires_grad_(True), mask, entropy, uncertainty, is_noisy)
    assert not shaped.requires_grad


def test_bad_inputs_fail_clearly():
    adv, mask, entropy, uncertainty, is_noisy = make_batch(2)
    with pytest.raises(ValueError, match="cap_base"):
        shape_advantages(adv, mask, entropy, uncertainty, is_noisy, cap_base="raw")
    with pytest.raises(ValueError, match="beta_out"):
        shape_advantages(adv, mask, entropy, uncertainty, is_noisy, beta_out=0.0)
    with pytest.raises(ValueError, match="alpha_per"):
        shape_advantages(adv, mask, entropy, uncertainty, is_noisy, alpha_per=-1.0)
    with pytest.raises(ValueError, match="entropy has shape"):
        shape_advantages(adv, mask, entropy[:, :-1], uncertainty, is_noisy)
    with pytest.raises(ValueError, match="is_noisy"):
        shape_advantages(adv, mask, entropy, uncertainty, is_noisy[:-1])
    noisy_row = int(is_noisy.nonzero()[0])
    broken = uncertainty.clone()
    broken[noisy_row, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        shape_advantages(adv, mask, entropy, broken, is_noisy)


REWARD_VALUES = (0.0, 0.1, 0.9, 1.0)  # what vogue_reward can give: accuracy 0/1 × (1 − 0.1) + format 0/0.1


def verl_grpo(rewards: torch.Tensor, groups) -> torch.Tensor:
    """verl 0.9.1's own GRPO advantage (one scalar per response)."""
    import numpy as np

    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    token_rewards = torch.zeros(len(rewards), 3)
    token_rewards[:, -1] = rewards
    advantages, _ = compute_grpo_outcome_advantage(token_rewards, torch.ones(len(rewards), 3),
                                                   np.array(groups, dtype=object))
    return advantages


@pytest.mark.parametrize("value", REWARD_VALUES)
def test_groups_with_equal_rewards_get_no_bonus_for_every_group_size(value):
    """verl's GRPO gives an all-equal group float-rounding advantages (documented magnitude: up to ~0.11 for
    0.1 and 0.9); decided on the rewards, such a group gets no bonus: Â = verl's A exactly, for n = 2 … 16."""
    rounding = []
    for n in range(2, 17):
        rewards = torch.full((n + 2,), value)
        rewards[n:] = torch.tensor([0.0, 1.0])  # a mixed group beside it
        groups = ["tied"] * n + ["mixed"] * 2
        advantages = verl_grpo(rewards, groups)
        tied = rows_in_tied_groups(rewards, groups)
        assert tied.tolist() == [True] * n + [False, False]
        entropy, u_per = torch.full((n + 2, 3), 0.7), torch.full((n + 2, 3), 0.3)
        shaped, _ = shape_advantages(advantages, torch.ones(n + 2, 3), entropy, u_per, torch.ones(n + 2, dtype=torch.bool),
                                     tied=tied)
        assert torch.equal(shaped[:n], advantages[:n])
        assert (shaped[n:] - advantages[n:]).abs().min() > 0  # the mixed group keeps its bonuses
        rounding.append(float(advantages[:n].abs().max()))
    if value in (0.0, 1.0):
        assert max(rounding) == 0.0
    else:
        assert 0 < max(rounding) < 0.2  # the float noise verl's GRPO leaves (0.106 at most, measured)


def test_tied_rows_are_decided_per_group_on_the_rewards():
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.1, 0.1, 0.9, 0.9, 0.9])
    groups = ["a", "a", "b", "c", "c", "d", "e", "e"]
    assert rows_in_tied_groups(rewards, groups).tolist() == [True, True, True, True, True, True, True, True]
    rewards[7] = 1.0
    assert rows_in_tied_groups(rewards, groups).tolist() == [True, True, True, True, True, True, False, False]
    with pytest.raises(ValueError, match="tied has shape"):
        shape_advantages(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3), torch.zeros(2, 3),
                         torch.zeros(2, dtype=torch.bool), tied=torch.zeros(3, dtype=torch.bool))
