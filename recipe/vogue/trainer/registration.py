"""Registrations verl loads in every process through the ``verl.plugins`` entry point.

verl imports this module from ``verl/__init__.py`` in the driver and in every Ray worker and silently
swallows import errors, so it stays tiny: it only names the advantage estimator ``vogue_grpo``.

``algorithm.adv_estimator=vogue_grpo`` computes exactly GRPO's advantages (verl's
``compute_grpo_outcome_advantage``, honouring ``norm_adv_by_std_in_grpo``): verl hands custom
estimators only the rewards, mask, group index and config, never the per-token entropy or u_per, so
the VOGUE bonuses cannot live there. ``VogueTrainer`` adds them after GRPO (in ``_update_actor``);
the name lets a run say which method it is, and the validator refuses it without ``vogue.enable``.
"""

from verl.trainer.ppo import core_algos

VOGUE_GRPO = "vogue_grpo"


def vogue_grpo_advantage(token_level_rewards, response_mask, index, config=None, **_unused):
    """A_i = (R_i − mean_group R) / (std_group R + 1e−6), broadcast over the response (GRPO; METHOD.md §3)."""
    norm_by_std = config.get("norm_adv_by_std_in_grpo", True) if config is not None else True
    return core_algos.compute_grpo_outcome_advantage(
        token_level_rewards, response_mask, index, norm_adv_by_std_in_grpo=norm_by_std
    )


if core_algos.ADV_ESTIMATOR_REGISTRY.get(VOGUE_GRPO) is None:
    core_algos.register_adv_est(VOGUE_GRPO)(vogue_grpo_advantage)
