"""File for verl's ``reward.custom_reward_function.path`` (verl imports it by path, not as a package
module, so it holds no relative imports): ``name=compute_score`` (reward loop) or
``name=compute_score_batch`` (batch-style managers)."""

from vogue_reward import compute_score, compute_score_batch

__all__ = ["compute_score", "compute_score_batch"]
