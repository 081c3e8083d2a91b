"""Hydra entry for VOGUE on verl 0.9.1: ``python -m recipe.vogue.main_vogue <hydra overrides>``.

The config is ``config/vogue_trainer.yaml`` (verl's packaged ``ppo_trainer`` plus the ``vogue:``
section; ``vogue=paper`` by default, ``vogue=authors_code`` for the released code's choices). The
rollout backend and the platform come from overrides/env only (``actor_rollout_ref.rollout.name``,
``trainer.device``), so the same entry runs on GPU clusters and on the CPU backend.
"""

from __future__ import annotations

import os
import socket
import sys
from pprint import pprint

import hydra
import ray
from omegaconf import OmegaConf

from verl.trainer.main_ppo import run_ppo
from verl.trainer.main_ppo_v0 import BaseTaskRunner
from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler, need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config
from verl.utils.device import auto_set_device

from recipe.vogue.trainer.vogue_config import check_data_files, check_multimodal_processor, validate_run_config

__all__ = ["RunSetupError", "VogueTaskRunner", "ensure_file_logger_directory", "main"]


class RunSetupError(ValueError):
    """A run that cannot start, raised in the trainer's process; ``main`` prints its one line."""


def ensure_file_logger_directory(config, environ=os.environ) -> str | None:
    """Create the directory of ``VERL_FILE_LOGGER_PATH`` (verl's file logger opens the file without creating it)
    in the trainer's own process: on a Ray cluster that can be another node than the launcher's ``mkdir -p``.
    Returns the directory, or None when the run has no file logger or no such path."""
    path = environ.get("VERL_FILE_LOGGER_PATH")
    loggers = config.trainer.get("logger") or []
    if not path or "file" not in ([loggers] if isinstance(loggers, str) else list(loggers)):
        return None
    directory = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise RunSetupError(f"VERL_FILE_LOGGER_PATH={path}: cannot create {directory} on {socket.gethostname()} "
                            f"({error.strerror}); put the metrics file on storage the trainer's node can write") from None
    return directory


class VogueTaskRunnerBase(BaseTaskRunner):
    """verl's TaskRunner with VOGUE's worker (for kl_estimator=full) and trainer."""

    def add_actor_rollout_worker(self, config):
        from recipe.vogue.trainer.worker import VogueActorRolloutRefWorker

        from verl.trainer.ppo.ray_trainer import Role

        _, worker_group_cls = super().add_actor_rollout_worker(config)
        # The subclass only adds a method; with vogue.enable=false it behaves exactly like verl's worker.
        for role in (Role.ActorRollout, Role.ActorRolloutRef):
            if role in self.role_worker_mapping:
                self.role_worker_mapping[role] = ray.remote(VogueActorRolloutRefWorker)
        return VogueActorRolloutRefWorker, worker_group_cls

    def run(self, config):
        from verl.utils.dataset.rl_dataset import collate_fn
        from verl.workers.config import HFModelConfig

        from recipe.vogue.trainer.vogue_trainer import VogueTrainer

        print(f"VogueTaskRunner hostname: {socket.gethostname()}, PID: {os.getpid()}")
        pprint(OmegaConf.to_container(config, resolve=True))
        OmegaConf.resolve(config)
        validate_run_config(config)
        ensure_file_logger_directory(config)
        _, worker_group_cls = self.add_actor_rollout_worker(config)
        self.add_critic_worker(config)
        self.add_reward_model_resource_pool(config)
        self.add_teacher_model_resource_pool(config)
        validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))

        model_config: HFModelConfig = omega_conf_to_dataclass(config.actor_rollout_ref.model)
        tokenizer, processor = model_config.tokenizer, model_config.processor
        datasets = {
            split: create_rl_dataset(
                files, config.data, tokenizer, processor, is_train=split == "train",
                max_samples=config.data.get(f"{split}_max_samples", -1),
            )
            for split, files in (("train", config.data.train_files), ("val", config.data.val_files))
        }
        trainer = VogueTrainer(
            config=config,
            tokenizer=tokenizer,
            processor=processor,
            role_worker_mapping=self.role_worker_mapping,
            resource_pool_manager=self.init_resource_pool_mgr(config),
            ray_worker_group_cls=worker_group_cls,
            train_dataset=datasets["train"],
            val_dataset=datasets["val"],
            collate_fn=collate_fn,
            train_sampler=create_rl_sampler(config.data, datasets["train"]),
        )
        trainer.init_workers()
        trainer.fit()


VogueTaskRunner = ray.remote(VogueTaskRunnerBase)


def check_before_ray(config) -> None:
    """What can be checked in seconds, before Ray and the workers start (30–40 s even on a laptop): the
    ``vogue`` section, the data files, and — for a local model directory — that VOGUE has an image processor."""
    vogue = validate_run_config(config)
    check_data_files(config)
    model_path = os.path.expanduser(config.actor_rollout_ref.model.path)
    if vogue.enable and os.path.isdir(model_path):
        from verl.utils import hf_processor

        trust = config.actor_rollout_ref.model.get("trust_remote_code", False)
        check_multimodal_processor(hf_processor(model_path, trust_remote_code=trust), model_path)


@hydra.main(config_path="config", config_name="vogue_trainer", version_base=None)
def main(config):
    auto_set_device(config)
    check_before_ray(config)
    try:
        run_ppo(config, task_runner_class=VogueTaskRunner)
    except RunSetupError as error:  # raised in the trainer's Ray actor: its message, not Ray's traceback
        sys.exit(f"error: {getattr(error, 'cause', None) or error}")


if __name__ == "__main__":
    main()
