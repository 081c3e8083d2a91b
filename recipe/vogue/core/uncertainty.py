"""Perceptual uncertainty u_per (symmetric KL between the raw and noisy branches) and output
uncertainty u_out (token entropy), METHOD.md §2. Pure torch; inputs are treated as detached.

Notation: p = π(·|x, o<t) (raw image), q = π(·|x', o<t) (perturbed image), o_t ~ p the sampled token.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "SAMPLED_KL_ESTIMATORS",
    "FULL_KL_ESTIMATORS",
    "symmetric_kl_from_logits",
    "forward_kl_from_logits",
    "kl_from_logits",
    "entropy_from_logits",
    "measure_at_positions",
    "symmetric_kl_from_sampled",
    "sampled_token_entropy",
]

SAMPLED_KL_ESTIMATORS = ("sampled", "dupl_code", "forward")
# Exact estimators over the whole vocabulary (they need both branches' logits: the worker's paired pass).
FULL_KL_ESTIMATORS = ("full", "forward_full")
DEFAULT_CHUNK_SIZE = 128
_DUPL_EPS = 1e-8


def _log_softmax_fp32(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    if temperature != 1.0:
        logits = logits.to(torch.float32, copy=True).div_(temperature)
    return torch.log_softmax(logits, dim=-1, dtype=torch.float32)


def _flatten_positions(logits: torch.Tensor) -> torch.Tensor:
    if logits.dim() < 1:
        raise ValueError("logits need a vocabulary dimension")
    return logits.reshape(-1, logits.shape[-1])


def _check_chunk(chunk_size: int, temperature: float) -> None:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _chunked_over_positions(chunk_fn, chunk_size: int, *logits: torch.Tensor) -> torch.Tensor:
    """float32 [...] = chunk_fn(chunk of every ``logits`` [..., V]) over positions, ``chunk_size`` at a time."""
    flat = [_flatten_positions(x) for x in logits]
    out = torch.empty(flat[0].shape[0], dtype=torch.float32, device=flat[0].device)
    for start in range(0, flat[0].shape[0], chunk_size):
        out[start : start + chunk_size] = chunk_fn(*(x[start : start + chunk_size] for x in flat))
    return out.reshape(logits[0].shape[:-1])


def _check_pair(raw_logits: torch.Tensor, noisy_logits: torch.Tensor, chunk_size: int, temperature: float) -> None:
    if raw_logits.shape != noisy_logits.shape:
        raise ValueError(f"raw and noisy logits differ in shape: {tuple(raw_logits.shape)} vs {tuple(noisy_logits.shape)}")
    _check_chunk(chunk_size, temperature)


@torch.no_grad()
def symmetric_kl_from_logits(
    raw_logits: torch.Tensor,
    noisy_logits: torch.Tensor,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Exact u_per,t = ½[KL(p‖q) + KL(q‖p)] = ½ Σ_v (p_v − q_v)(log p_v − log q_v) per position.

    Args:
        raw_logits, noisy_logits: [..., V] logits of the two branches (any float dtype, e.g. bf16).
        chunk_size: positions processed at once; peak extra memory is a few [chunk_size, V] fp32
            temporaries, never a full [..., V] fp32 copy.
        temperature: logits are divided by it before the softmax (as verl does for log-probs).

    Returns:
        float32 tensor of shape [...]. Vocabulary entries that are −inf in BOTH branches contribute 0;
        an entry that is −inf in only one branch gives +inf (the divergence is infinite), also where the
        other branch's probability of it underflows to 0 in fp32.
    """
    _check_pair(raw_logits, noisy_logits, chunk_size, temperature)
    return _chunked_over_positions(
        lambda raw, noisy: _chunk_symmetric_kl(raw, noisy, temperature), chunk_size, raw_logits, noisy_logits
    )


def _chunk_symmetric_kl(raw: torch.Tensor, noisy: torch.Tensor, temperature: float) -> torch.Tensor:
    # At most three [chunk, V] fp32 buffers live at once; a separate function so that none of them
    # survives into the next chunk's allocations.
    log_p = _log_softmax_fp32(raw, temperature)
    log_q = _log_softmax_fp32(noisy, temperature)
    log_ratio = torch.sub(log_p, log_q).nan_to_num_(nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    prob_diff = log_p.exp_().sub_(log_q.exp_())  # p − q, reusing log_p's storage
    del log_q
    # 0·(±inf) is an entry at −inf in one branch whose probability in the other underflows to 0: still infinite
    return prob_diff.mul_(log_ratio).nan_to_num_(nan=float("inf"), posinf=float("inf")).sum(-1).mul_(0.5)


@torch.no_grad()
def forward_kl_from_logits(
    raw_logits: torch.Tensor,
    noisy_logits: torch.Tensor,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Exact u_t = KL(p‖q) = Σ_v p_v (log p_v − log q_v) per position (the paper's "Forward KL" ablation).

    Same arguments, chunking and memory bound as ``symmetric_kl_from_logits``; ≥ 0. Entries with p_v = 0
    contribute 0; an entry with a finite raw logit and a −inf noisy one gives +inf (also where p_v underflows).
    """
    _check_pair(raw_logits, noisy_logits, chunk_size, temperature)
    return _chunked_over_positions(
        lambda raw, noisy: _chunk_forward_kl(raw, noisy, temperature), chunk_size, raw_logits, noisy_logits
    )


def _chunk_forward_kl(raw: torch.Tensor, noisy: torch.Tensor, temperature: float) -> torch.Tensor:
    log_p = _log_softmax_fp32(raw, temperature)
    log_q = _log_softmax_fp32(noisy, temperature)
    only_q_banned = log_q.isinf() & ~log_p.isinf()  # infinite even where p_v underflows to 0
    log_ratio = log_q.neg_().add_(log_p)
    out = log_p.exp_().mul_(log_ratio).nan_to_num_(nan=0.0, posinf=float("inf"))  # 0·log 0 = 0
    return out.masked_fill_(only_q_banned, float("inf")).sum(-1)


def kl_from_logits(
    estimator: str, raw_logits: torch.Tensor, noisy_logits: torch.Tensor, chunk_size: int, temperature: float
) -> torch.Tensor:
    """u_per for a full-vocabulary estimator: ``full`` (symmetric KL) or ``forward_full`` (KL(p‖q))."""
    if estimator == "full":
        return symmetric_kl_from_logits(raw_logits, noisy_logits, chunk_size, temperature)
    if estimator == "forward_full":
        return forward_kl_from_logits(raw_logits, noisy_logits, chunk_size, temperature)
    raise ValueError(f"unknown full-vocabulary estimator {estimator!r}; expected one of {FULL_KL_ESTIMATORS}")


@torch.no_grad()
def entropy_from_logits(logits: torch.Tensor, chunk_size: int = DEFAULT_CHUNK_SIZE, temperature: float = 1.0) -> torch.Tensor:
    """u_out,t = −Σ_v π_v log π_v per position (full vocabulary, fp32), chunked like ``symmetric_kl_from_logits``."""
    _check_chunk(chunk_size, temperature)
    return _chunked_over_positions(lambda chunk: _chunk_entropy(chunk, temperature), chunk_size, logits)


def _chunk_entropy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    log_p = _log_softmax_fp32(logits, temperature)
    return log_p.exp().mul_(log_p).nan_to_num_(nan=0.0).sum(-1).neg_()  # 0·log 0 = 0


@torch.no_grad()
def measure_at_positions(measure, chunk_size: int, index: torch.Tensor, logits: torch.Tensor,
                         reference: torch.Tensor | None = None, outputs: int = 1):
    """``measure`` (an entropy taking a [chunk, V] chunk, or a measure taking (reference chunk, chunk)) at the
    positions ``index`` of ``logits`` [..., V] (flat indices into logits reshaped to [positions, V]),
    ``chunk_size`` positions at a time: float32 [len(index)], or a tuple of ``outputs`` of them for a measure
    that returns a tuple. No [positions, V] copy of ``logits`` is made, so a forward's full logits can be read in
    place. ``reference``: the other branch's logits, already cut to the same positions, in order."""
    flat = _flatten_positions(logits)
    index = index.to(flat.device)
    if reference is not None and reference.shape != (index.numel(), flat.shape[-1]):
        raise ValueError(f"reference logits {tuple(reference.shape)} for {index.numel()} positions of {flat.shape[-1]}")
    out = [torch.empty(index.numel(), dtype=torch.float32, device=flat.device) for _ in range(outputs)]
    for start in range(0, index.numel(), chunk_size):
        chunk = flat[index[start : start + chunk_size]]
        args = (chunk,) if reference is None else (reference[start : start + chunk_size], chunk)
        values = measure(*args)
        for target, value in zip(out, values if outputs > 1 else (values,), strict=True):
            target[start : start + chunk_size] = value
        del chunk, args  # before the next chunk is gathered
    return tuple(out) if outputs > 1 else out[0]


@torch.no_grad()
def symmetric_kl_from_sampled(
    raw_log_probs: torch.Tensor,
    noisy_log_probs: torch.Tensor,
    estimator: Literal["sampled", "dupl_code", "forward"] = "sampled",
) -> torch.Tensor:
    """u_per,t from the log-probabilities of the sampled token only (elementwise, any shape).

    With log p = ``raw_log_probs`` = log p(o_t), log q = ``noisy_log_probs`` = log q(o_t), r = q/p:

    - ``sampled``:   u = ½ (r − 1) · log r. Always ≥ 0 and unbiased: E_{o~p}[u] = ½[KL(p‖q) + KL(q‖p)].
    - ``dupl_code``: a = p(o_t), b = q(o_t); u = ½[a (log a − log(b + 1e−8)) + b (log b − log(a + 1e−8))]
      — the surrogate in the authors' released code (roughly a × the ``sampled`` estimate).
    - ``forward``:   u = a (log a − log(b + 1e−8)) — the released code's "Forward KL" ablation
      (``use_forward_kl_only``), the first half of ``dupl_code`` without the ½; it can be slightly
      negative (the 1e−8 term) and is small wherever p(o_t) is.

    Each a·log a term is ``xlogy(a, a)`` (0 at a = 0), as in ``torch.nn.functional.kl_div``, which the
    released code calls.
    """
    if raw_log_probs.shape != noisy_log_probs.shape:
        raise ValueError(
            f"raw and noisy log-probs differ in shape: {tuple(raw_log_probs.shape)} vs {tuple(noisy_log_probs.shape)}"
        )
    log_p = raw_log_probs.float()
    log_q = noisy_log_probs.float()
    if estimator == "sampled":
        log_r = log_q - log_p
        return 0.5 * torch.expm1(log_r) * log_r
    if estimator == "dupl_code":
        a, b = log_p.exp(), log_q.exp()
        return 0.5 * (_released_kl_term(a, b) + _released_kl_term(b, a))
    if estimator == "forward":
        return _released_kl_term(log_p.exp(), log_q.exp())
    raise ValueError(f"unknown u_per estimator {estimator!r}; expected one of {SAMPLED_KL_ESTIMATORS}")


def _released_kl_term(target: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """F.kl_div(log(other + 1e−8), target) elementwise = target·(log target − log(other + 1e−8))."""
    return torch.xlogy(target, target) - target * torch.log(other + _DUPL_EPS)


@torch.no_grad()
def sampled_token_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """The authors' code's u_out surrogate: −p(o_t)·log p(o_t) of the sampled token (elementwise)."""
    log_p = log_probs.float()
    return -(log_p.exp() * log_p)
