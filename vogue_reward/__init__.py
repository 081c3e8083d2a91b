"""Rule-based verifiers for VOGUE's reward (0.9·accuracy + 0.1·format, METHOD.md §6)."""

from vogue_reward.score import compute_score, compute_score_batch

__all__ = ["compute_score", "compute_score_batch"]
