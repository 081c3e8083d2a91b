"""recipe.vogue.trainer.registration: import-safe from inside verl's own import, registers ``vogue_grpo`` = GRPO."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def brute_force_grpo(scores, index, norm_by_std=True):
    out = []
    for score, group in zip(scores, index, strict=True):
        members = [s for s, g in zip(scores, index, strict=True) if g == group]
        if len(members) == 1:
            mean, std = 0.0, 1.0
        else:
            mean, std = float(np.mean(members)), float(np.std(members, ddof=1))
        out.append((score - mean) / (std + 1e-6) if norm_by_std else score - mean)
    return out


@pytest.mark.parametrize("norm_by_std", [True, False])
def test_vogue_grpo_is_grpo(norm_by_std):
    import recipe.vogue.trainer.registration  # noqa: F401
    from verl import DataProto
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.ray_trainer import compute_advantage

    scores = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.5]
    index = np.array(["a", "a", "a", "b", "b", "b", "c"], dtype=object)
    rewards = torch.zeros(len(scores), 4)
    mask = torch.ones(len(scores), 4)
    mask[1, 3] = 0
    for row, score in enumerate(scores):
        rewards[row, 2] = score
    fn = get_adv_estimator_fn("vogue_grpo")
    advantages, _ = fn(rewards, mask, index, config={"norm_adv_by_std_in_grpo": norm_by_std})
    expected = torch.tensor(brute_force_grpo(scores, list(index), norm_by_std))[:, None] * mask
    torch.testing.assert_close(advantages, expected)

    def through_trainer(estimator):
        data = DataProto.from_dict(
            tensors={"token_level_rewards": rewards, "response_mask": mask}, non_tensors={"uid": index}
        )
        return compute_advantage(data, estimator, norm_adv_by_std_in_grpo=norm_by_std,
                                 config={"norm_adv_by_std_in_grpo": norm_by_std}).batch["advantages"]

    torch.testing.assert_close(through_trainer("vogue_grpo"), through_trainer("grpo"))


def test_entry_point_is_declared():
    plugins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["verl.plugins"]
    assert plugins["vogue"] == "recipe.vogue.trainer.registration"


@pytest.mark.slow
def test_registers_when_verl_imports_it_in_a_fresh_process():
    """verl imports plugins from its own __init__ and swallows their errors; prove ours loads there."""
    env = {**os.environ, "VERL_USE_EXTERNAL_PLUGINS": "none", "VERL_USE_EXTERNAL_MODULES": "recipe.vogue.trainer.registration"}
    code = (
        "import verl, sys\n"
        "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY\n"
        "assert 'recipe.vogue.trainer.registration' in sys.modules\n"
        "print('vogue_grpo' in ADV_ESTIMATOR_REGISTRY)\n"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "True"
