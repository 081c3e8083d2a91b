"""The vocabulary math of the log-prob stage, per position of [positions, V] logits, in two implementations
(``vogue.vocab_math``):

- ``entropy``: one branch's u_out,t = −Σ_v π_v log π_v;
- ``paired``: for a probed position, both branches' entropies and u_per,t (``full``: ½ Σ_v (p_v − q_v)(log p_v −
  log q_v); ``forward_full``: Σ_v p_v (log p_v − log q_v)), p from the raw branch's logits, q from the other.

``eager`` is ``uncertainty``'s functions one after the other, the reference: each takes its own fp32 log-softmax
of a chunk (up to 3 [chunk, V] fp32 temporaries), so a probed position's logits are read and converted twice
per branch. ``compiled`` is one function per measure, compiled by torch.compile (inductor, dynamic shapes: one
graph for every chunk length and vocabulary size): it reads each branch's chunk once in its own dtype and
writes only the per-position values, with no [chunk, V] fp32 buffer (``bench/bench_vocab_math.py`` measures
both). ``auto`` follows the actor engine's ``use_torch_compile`` (``actor_rollout_ref.actor.fsdp_config.
use_torch_compile``, default true), which compiles verl's own entropy the same way
(``FSDPEngine.compute_entropy_from_logits``).

Both give, per vocabulary entry of a position: 0 when it is −inf in both branches; +inf when it is −inf in
exactly one (the divergence is infinite; KL(p‖q) only when q_v alone is −inf); 0 to the entropy for an entry of
probability 0. Logits are divided by the temperature in fp32 before the softmax, as verl does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch
from torch.utils._pytree import tree_map

from recipe.vogue.core.uncertainty import (
    FULL_KL_ESTIMATORS,
    entropy_from_logits,
    kl_from_logits,
)

__all__ = ["VOCAB_MATH_MODES", "resolve_mode", "entropy_function", "paired_function", "entropy_chunk",
           "paired_chunk"]

VOCAB_MATH_MODES = ("auto", "eager", "compiled")


def resolve_mode(mode: str, use_torch_compile: bool) -> str:
    """``eager`` or ``compiled`` for ``vogue.vocab_math``; ``auto`` follows verl's ``use_torch_compile``."""
    if mode not in VOCAB_MATH_MODES:
        raise ValueError(f"vogue.vocab_math must be one of {VOCAB_MATH_MODES}, got {mode!r}")
    if mode == "auto":
        return "compiled" if use_torch_compile else "eager"
    return mode


def _log_softmax(logits: torch.Tensor, temperature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π, π) in fp32, in log_softmax's own order (the max subtracted first: exact for logits far from 0,
    where x − logsumexp(x) is not). x/T is written out at each use so that inductor recomputes it from the
    input inside each of its loops instead of storing a [chunk, V] fp32 buffer between them."""
    maximum = (logits.float() / temperature).amax(dim=-1, keepdim=True)
    log_normaliser = (logits.float() / temperature - maximum).exp().sum(dim=-1, keepdim=True).log()
    log_p = (logits.float() / temperature - maximum) - log_normaliser
    return log_p, log_p.exp()


def _neg_entropy_terms(log_p: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return torch.where(p > 0, p * log_p, 0.0)


def entropy_chunk(logits: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """[n, V] logits → [n] fp32 entropies, H = −Σ_v π_v log π_v (the function ``compiled`` compiles)."""
    log_p, p = _log_softmax(logits, temperature)
    return -_neg_entropy_terms(log_p, p).sum(-1)


def paired_chunk(raw: torch.Tensor, paired: torch.Tensor, temperature: torch.Tensor,
                 forward_only: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """([n] raw entropy, [n] paired entropy, [n] u_per) from [n, V] logits of both branches (the function
    ``compiled`` compiles); u_per is KL(p‖q) with ``forward_only``, else the symmetric KL."""
    log_p, p = _log_softmax(raw, temperature)
    log_q, q = _log_softmax(paired, temperature)
    log_ratio = log_p - log_q  # NaN where both are −inf, ±inf where one is
    if forward_only:
        terms = torch.where(log_q.isinf() & ~log_p.isinf(), torch.inf, torch.where(p > 0, p * log_ratio, 0.0))
    else:
        terms = torch.where(log_ratio.isnan(), 0.0,
                            torch.where(log_ratio.isinf(), torch.inf, 0.5 * (p - q) * log_ratio))
    return -_neg_entropy_terms(log_p, p).sum(-1), -_neg_entropy_terms(log_q, q).sum(-1), terms.sum(-1)


@cache
def _compiled(function: Callable) -> Callable:
    """``function`` compiled once per process for every chunk length: torch.compile specialises the sizes 0
    and 1, so a chunk of fewer than 2 positions runs padded to 2 with zero logits, its own values kept."""
    compiled = torch.compile(function, dynamic=True, fullgraph=True)  # a graph break is an error, not half-eager code

    def run(*args):
        rows = len(args[0])
        if rows >= 2:
            return compiled(*args)
        padded = (torch.cat([arg, arg.new_zeros(2 - rows, arg.shape[-1])])
                  if isinstance(arg, torch.Tensor) and arg.dim() == 2 else arg for arg in args)
        return tree_map(lambda value: value[:rows], compiled(*padded))

    return run


def _temperature_on(temperature: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """logits → the temperature as a 0-d fp32 tensor on their device, made once per device: a tensor, not a
    float, so that the compiled graph does not depend on its value."""
    made: dict[torch.device, torch.Tensor] = {}

    def on(logits: torch.Tensor) -> torch.Tensor:
        if logits.device not in made:
            made[logits.device] = torch.tensor(temperature, dtype=torch.float32, device=logits.device)
        return made[logits.device]

    return on


def entropy_function(mode: str, temperature: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """chunk [n, V] → [n] fp32 entropy under ``mode`` (``eager`` or ``compiled``)."""
    if mode == "eager":
        return lambda chunk: entropy_from_logits(chunk, chunk_size=max(len(chunk), 1), temperature=temperature)
    compiled, on = _compiled(entropy_chunk), _temperature_on(temperature)
    return lambda chunk: compiled(chunk, on(chunk))


def paired_function(mode: str, temperature: float, estimator: str) -> Callable[[torch.Tensor, torch.Tensor], tuple]:
    """(raw chunk [n, V], paired chunk [n, V]) → (raw entropy, paired entropy, u_per), each [n] fp32, under
    ``mode`` for a full-vocabulary ``estimator``."""
    if estimator not in FULL_KL_ESTIMATORS:
        raise ValueError(f"the paired vocabulary math needs a full-vocabulary estimator {FULL_KL_ESTIMATORS}, "
                         f"got {estimator!r}")
    if mode == "eager":
        entropy = entropy_function("eager", temperature)

        def eager(raw: torch.Tensor, paired: torch.Tensor):
            kl = kl_from_logits(estimator, raw, paired, max(len(raw), 1), temperature)
            return entropy(raw), entropy(paired), kl

        return eager
    compiled, on = _compiled(paired_chunk), _temperature_on(temperature)
    forward_only = estimator == "forward_full"
    return lambda raw, paired: compiled(raw, paired, on(raw), forward_only)
