"""How VOGUE plugs into verl: the TaskRunner's role→worker mapping and the worker's registered method."""

import pytest

from verl.single_controller.base.decorator import MAGIC_ATTR


def test_task_runner_maps_the_actor_role_to_the_vogue_worker(compose):
    from recipe.vogue.main_vogue import VogueTaskRunnerBase
    from recipe.vogue.trainer.worker import VogueActorRolloutRefWorker
    from verl.trainer.ppo.ray_trainer import Role

    runner = VogueTaskRunnerBase()
    worker_cls, _ = runner.add_actor_rollout_worker(compose())
    assert worker_cls is VogueActorRolloutRefWorker
    assert list(runner.role_worker_mapping) == [Role.ActorRollout]  # no reference model
    actor_class = runner.role_worker_mapping[Role.ActorRollout].__ray_metadata__.modified_class
    assert issubclass(actor_class, VogueActorRolloutRefWorker)
    runner.add_critic_worker(compose())
    assert Role.Critic in runner.role_worker_mapping  # verl's own roles stay verl's


def test_paired_method_is_registered_like_compute_log_prob():
    from recipe.vogue.trainer.worker import VogueActorRolloutRefWorker

    ours = getattr(VogueActorRolloutRefWorker.compute_log_prob_with_noisy_branch, MAGIC_ATTR)
    verls = getattr(VogueActorRolloutRefWorker.compute_log_prob, MAGIC_ATTR)
    assert ours["dispatch_mode"].keys() == verls["dispatch_mode"].keys()
    assert ours["dispatch_mode"]["dispatch_fn"].args == verls["dispatch_mode"]["dispatch_fn"].args == ("actor",)
    assert ours["blocking"] == verls["blocking"]


def test_paired_method_restores_the_engine_and_pops_its_settings(monkeypatch):
    """The method swaps forward_step only for its own call, even when the forward fails; it pops its settings
    from the data and resolves vocab_math=auto from the engine's use_torch_compile."""
    from types import SimpleNamespace

    from tensordict import TensorDict

    from recipe.vogue.trainer.worker import CHUNK_SIZE_KEY, VOCAB_MATH_KEY, VogueActorRolloutRefWorker
    from verl.utils import tensordict_utils as tu

    class Engine:
        def forward_step(self, *args, **kwargs):
            return "class method"

    seen = []

    def infer_batch(data):
        keywords = engine.forward_step.keywords
        seen.append((keywords["chunk_size"], keywords["vocab_math"], CHUNK_SIZE_KEY in data.keys(),
                     VOCAB_MATH_KEY in data.keys()))
        raise RuntimeError("forward failed")

    method = VogueActorRolloutRefWorker.compute_log_prob_with_noisy_branch
    for use_torch_compile in (True, False):
        engine = Engine()
        engine.engine_config = SimpleNamespace(use_torch_compile=use_torch_compile)
        worker = object.__new__(VogueActorRolloutRefWorker)
        worker.actor = SimpleNamespace(engine=engine, infer_batch=infer_batch)
        data = TensorDict({}, batch_size=[])
        tu.assign_non_tensor(data, **{CHUNK_SIZE_KEY: 7, VOCAB_MATH_KEY: "auto"})
        with pytest.raises(RuntimeError, match="forward failed"):
            getattr(method, "__wrapped__", method)(worker, data)
        assert engine.forward_step() == "class method"
    assert seen == [(7, "compiled", False, False), (7, "eager", False, False)]


def test_the_paired_budget_bounds_the_call_only_when_rows_are_probed(make_trainer, make_batch, monkeypatch):
    """One dispatch holds raw-only and probed rows; with probed rows the call's token budget is the paired
    pass's own (vogue.paired_max_token_len_per_gpu), without them verl's."""
    from verl.utils import tensordict_utils as tu

    seen = []
    overrides = ["actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=true", "vogue.paired_max_token_len_per_gpu=64",
                 "vogue.kl_estimator=sampled"]
    for step, total in ((1, 10), (11, 10)):  # p_noi = 1, then 0
        trainer = make_trainer(overrides, global_steps=step, total_training_steps=total)
        original = trainer.actor_rollout_wg.compute_log_prob_with_noisy_branch

        def record(td, original=original):
            seen.append(tu.get_non_tensor_data(td, "max_token_len_per_gpu", None))
            return original(td)

        monkeypatch.setattr(trainer.actor_rollout_wg, "compute_log_prob_with_noisy_branch", record)
        trainer._compute_old_log_prob(make_batch())
    assert seen == [64, None]


@pytest.mark.slow
def test_entry_point_rejects_a_bad_config_before_starting_ray(tmp_path):
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "recipe.vogue.main_vogue", "vogue.rollout_from=sideways",
         f"hydra.run.dir={tmp_path}"],
        cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "vogue.rollout_from must be one of" in result.stderr
    assert "ray init kwargs" not in result.stdout


def test_trainer_refuses_a_text_only_model_at_construction(compose, monkeypatch, image_processor):
    from types import SimpleNamespace

    from recipe.vogue.trainer.vogue_trainer import VogueTrainer
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    def bare_init(self, config, processor=None, **_):  # verl's __init__ builds dataloaders; not needed here
        self.config, self.processor = config, processor

    monkeypatch.setattr(RayPPOTrainer, "__init__", bare_init)
    with pytest.raises(ValueError, match="needs a multimodal model"):
        VogueTrainer(config=compose(), processor=None)
    assert VogueTrainer(config=compose(["vogue.enable=false"]), processor=None).vogue.enable is False
    trainer = VogueTrainer(config=compose(), processor=SimpleNamespace(image_processor=image_processor))
    assert trainer.vogue.kl_estimator == "full" and trainer._vogue_metrics == {}
    with pytest.raises(ValueError, match="needs a multimodal model"):
        VogueTrainer(config=compose(["vogue.enable=false", "noisyrollout=k12", "actor_rollout_ref.rollout.n=4"]),
                     processor=None)
