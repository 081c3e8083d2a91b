"""VOGUE advantage shaping (METHOD.md §3): GRPO advantages plus two capped, detached bonuses.

Per response token t of sample i, with the sign-preserving cap c(x, A, β) = sign(x)·min(|x|, |A|/β):

    g_out = c(α_o · u_out,t, A_i, β_o)
    g_per = c(α_p · u_per,t, A_i, β_p)               (noisy-branch samples only)
    Â_t   = A_i + g_out + z_i · g_per                 (z_i = 1 for noisy-branch samples)

For u ≥ 0 the cap is the paper's min(|A|/β, α·u) (METHOD.md §3); for a signed u (the released code's
forward surrogate, or its 1e−8 terms dipping below 0) it is the released code's
sign(c)·min(|c|, |A|/β) (METHOD.md §9): |g| ≤ |A|/β on both sides and A = 0 ⇒ g = 0 exactly.

A group whose rewards are all equal has A = 0 in exact arithmetic; verl's GRPO leaves float-rounding
advantages there (all-0.1 groups of n = 7…16, all-0.9 groups of n = 3, 6–9, 12–16: |A| up to 0.106), so
such rows (``rows_in_tied_groups``, decided on the rewards) get no bonus: Â = A, verl's value, untouched.

``cap_base="shaped"`` reproduces the authors' released code, where the entropy bonus is capped by
|A_i + z_i·g_per| instead of |A_i|. Setting α_o = 0 or α_p = 0 removes a bonus (the paper's ablations).
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["CAP_BASES", "rows_in_tied_groups", "shape_advantages"]

CAP_BASES = ("advantage", "shaped")


def _capped_bonus(cap_source: torch.Tensor, beta: float, alpha: float, signal: torch.Tensor):
    """sign(α·signal)·min(|α·signal|, |cap_source| / β) and the mask of positions where the cap bound."""
    cap = cap_source.abs() / beta
    uncapped = alpha * signal if alpha else torch.zeros_like(signal)  # α = 0 removes the bonus, even at u = inf
    magnitude = uncapped.abs()
    return torch.sign(uncapped) * torch.minimum(magnitude, cap), cap < magnitude


def rows_in_tied_groups(scores: torch.Tensor, group_ids) -> torch.Tensor:
    """[B] bool: rows whose group (same ``group_ids`` entry) has max(score) == min(score), i.e. no learning
    signal; ``scores`` [B] are the rows' total rewards."""
    scores = scores.detach().float().cpu()
    groups: dict = {}
    for row, group in enumerate(group_ids):
        groups.setdefault(group, []).append(row)
    tied = torch.zeros(len(scores), dtype=torch.bool)
    for rows in groups.values():
        members = scores[rows]
        tied[rows] = bool(members.max() == members.min())
    return tied


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    count = mask.sum()
    return float((values * mask).sum() / count) if count > 0 else 0.0


@torch.no_grad()
def shape_advantages(
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    entropy: torch.Tensor,
    uncertainty: torch.Tensor,
    is_noisy: torch.Tensor,
    alpha_out: float = 0.4,
    beta_out: float = 2.0,
    alpha_per: float = 1.0,
    beta_per: float = 2.0,
    cap_base: Literal["advantage", "shaped"] = "advantage",
    tied: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return (Â, metrics).

    Args:
        advantages: [B, T] GRPO advantages (constant over a response's tokens).
        response_mask: [B, T] 1 for response tokens, 0 for padding.
        entropy: [B, T] u_out of the branch each sample belongs to (noisy entropy for noisy rows).
        uncertainty: [B, T] u_per; only read on noisy rows (may hold anything finite elsewhere).
        is_noisy: [B] bool, z_i.
        alpha_*, beta_*: bonus scales and cap divisors (β > 0, α ≥ 0).
        cap_base: "advantage" (paper: caps use |A|) or "shaped" (authors' code: g_out capped by |A + g_per|).
        tied: [B] bool, rows of groups with all-equal rewards (``rows_in_tied_groups``): no bonus, Â = A.

    Both bonuses are ≥ 0 whenever u_out, u_per ≥ 0; |g_out| ≤ |A|/β_o (|A + g_per|/β_o for "shaped"),
    |g_per| ≤ |A|/β_p, both are exactly 0 when A = 0, and the sign of A is never flipped when
    1/β_o + 1/β_p ≤ 1 (the defaults). A signed u_per (the ``forward`` surrogate) gives a signed g_per.
    Masked positions of Â are 0. Inputs are read as detached.

    metrics: g_out_mean / g_per_mean (over response tokens of all rows / of noisy rows),
    g_out_capped_frac / g_per_capped_frac (fraction of those tokens where the |A|/β cap bound),
    noisy_frac (fraction of samples in the noisy branch), adv_shift_mean (mean of Â − A on tokens).
    """
    if cap_base not in CAP_BASES:
        raise ValueError(f"cap_base must be one of {CAP_BASES}, got {cap_base!r}")
    for name, beta in (("beta_out", beta_out), ("beta_per", beta_per)):
        if not beta > 0:
            raise ValueError(f"{name} must be > 0, got {beta}")
    for name, alpha in (("alpha_out", alpha_out), ("alpha_per", alpha_per)):
        if not alpha >= 0:
            raise ValueError(f"{name} must be >= 0, got {alpha}")
    shape = advantages.shape
    if advantages.dim() != 2:
        raise ValueError(f"advantages must be [B, T], got {tuple(shape)}")
    for name, tensor in (("response_mask", response_mask), ("entropy", entropy), ("uncertainty", uncertainty)):
        if tensor.shape != shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(shape)} like advantages")
    for name, rows in (("is_noisy", is_noisy), ("tied", tied)):
        if rows is not None and rows.shape != shape[:1]:
            raise ValueError(f"{name} has shape {tuple(rows.shape)}, expected [{shape[0]}]")

    mask = response_mask.detach().bool()
    noisy_rows = is_noisy.detach().bool().to(mask.device)
    noisy_tokens = mask & noisy_rows[:, None]
    adv = advantages.detach().float()
    u_out = entropy.detach().float()
    u_per = uncertainty.detach().float()
    if torch.isnan(u_out[mask]).any():
        raise ValueError("entropy is NaN on a response token")
    if torch.isnan(u_per[noisy_tokens]).any():
        raise ValueError("uncertainty (u_per) is NaN on a response token of a noisy-branch sample")

    g_per, per_capped = _capped_bonus(adv, beta_per, alpha_per, u_per)
    g_per = torch.where(noisy_tokens, g_per, torch.zeros_like(g_per))
    out_cap_source = adv + g_per if cap_base == "shaped" else adv
    g_out, out_capped = _capped_bonus(out_cap_source, beta_out, alpha_out, u_out)
    g_out = torch.where(mask, g_out, torch.zeros_like(g_out))

    if tied is not None:
        learning = ~tied.detach().bool().to(mask.device)[:, None]
        g_out, g_per = g_out * learning, g_per * learning
    shaped = torch.where(mask, adv + g_out + g_per, torch.zeros_like(adv)).to(advantages.dtype)
    metrics = {
        "g_out_mean": _masked_mean(g_out, mask),
        "g_per_mean": _masked_mean(g_per, noisy_tokens),
        "g_out_capped_frac": _masked_mean(out_capped.float(), mask),
        "g_per_capped_frac": _masked_mean(per_capped.float(), noisy_tokens),
        "noisy_frac": float(noisy_rows.float().mean()) if shape[0] else 0.0,
        "adv_shift_mean": _masked_mean(shaped.float() - adv, mask),
    }
    return shaped, metrics
