"""CPU backend for verl 0.9.1: a "cpu" platform and an "hf" (transformers) rollout.

verl imports this module in every process through the ``verl.plugins`` entry point ``vogue_cpu``
(pyproject.toml). It only registers names; nothing changes unless a run selects them:
``VERL_PLATFORM=cpu`` and ``actor_rollout_ref.rollout.name=hf``. verl swallows import errors of
plugins, so ``register()`` is also called explicitly by the project's entry points and tests.
"""

from __future__ import annotations

_registered = False


def register() -> None:
    """Register the platform, the rollout and (on the cpu platform) the engine and process-group shims."""
    global _registered
    if _registered:
        return
    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from recipe.vogue.cpu import platform

    platform.register_platform()
    # verl 0.9.1 has no register function for rollout adapters: its registry is this module-level dict.
    rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = "recipe.vogue.cpu.hf_rollout.HFServerAdapter"
    RolloutReplicaRegistry.register("hf", _load_hf_replica)
    if platform.platform_selected():
        platform.install_process_group_shim()
        platform.register_fsdp_engines_for_cpu()
    _registered = True


def _load_hf_replica():
    from recipe.vogue.cpu.hf_rollout import HFReplica

    return HFReplica


register()
