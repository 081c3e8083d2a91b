"""VOGUE + LoRA with 2 data-parallel ranks through verl's own fit() on the CPU backend: the launchers' setting
(adapters on the language model's linears, vision tower excluded, merged weights synced to the rollout,
actor_rollout_ref.model.lora.merge=True). Two steps, then the step-2 checkpoint: only the adapters moved,
the paired pass saw the adapted model (u_per > 0 exactly on probed rows), the rollout holds the merged weights
(rounded to bf16, as verl sends them) and samples with the actor's probabilities within that rounding, and
evaluate's merge of the checkpoint is base + (alpha/r)·B·A."""

import glob
import os

import pytest
import torch

from recipe.vogue.cpu import tiny_run
from recipe.vogue.cpu.hf_rollout import DUMP_DIR_ENV

pytestmark = pytest.mark.slow

STEPS, RANK, ALPHA = 2, 8, 16
LORA = [f"actor_rollout_ref.model.lora_rank={RANK}", f"actor_rollout_ref.model.lora_alpha={ALPHA}",
        "actor_rollout_ref.model.target_modules=all-linear", "actor_rollout_ref.model.exclude_modules='.*visual.*'",
        "actor_rollout_ref.model.lora.merge=True"]


@pytest.fixture(scope="module")
def lora_run(tiny_assets, tmp_path_factory):
    data_dir, model_dir = tiny_assets
    work_dir = str(tmp_path_factory.mktemp("lora"))
    overrides = [
        *tiny_run.TWO_RANKS, *LORA,
        "actor_rollout_ref.actor.optim.lr=1e-2",  # adapters move visibly in one step
        "data.train_batch_size=8", "actor_rollout_ref.actor.ppo_mini_batch_size=8", "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4", "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "trainer.test_freq=-1", "trainer.val_before_train=false", "vogue.schedule.type=fixed", "vogue.schedule.fixed=0.5",
        f"vogue.audit_dir={work_dir}/audit", "trainer.save_freq=1",
        "actor_rollout_ref.actor.checkpoint.save_contents=['model','hf_model']",
    ]
    records = tiny_run.train("vogue", data_dir, model_dir, work_dir, STEPS, overrides, os.path.join(work_dir, "metrics.jsonl"),
                             os.path.join(work_dir, "vogue.log"), timeout=1200,
                             extra_env={**tiny_run.TWO_RANKS_ENV, DUMP_DIR_ENV: os.path.join(work_dir, "syncs")})
    checkpoint = os.path.join(work_dir, "checkpoints", "vogue", f"global_step_{STEPS}")
    return [r for r in records if "timing_s/step" in r["data"]], work_dir, model_dir, checkpoint


def _dump(checkpoint):
    from safetensors.torch import load_file

    state = {}
    for path in glob.glob(os.path.join(checkpoint, "actor", "huggingface", "*.safetensors")):
        state.update(load_file(path))
    return state


def _initial(model_dir):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(model_dir).state_dict()


def test_two_steps_and_only_the_adapters_moved(lora_run):
    records, _, model_dir, checkpoint = lora_run
    assert [r["step"] for r in records] == [1, 2]
    dump, initial = _dump(checkpoint), _initial(model_dir)
    adapters = {key: value for key, value in dump.items() if ".lora_" in key}
    assert adapters and not any("visual" in key for key in adapters)
    b_moved = [bool(value.abs().sum() > 0) for key, value in adapters.items() if ".lora_B." in key]  # B starts at 0
    assert all(b_moved) if tiny_run.had_learning_signal(records, STEPS) else not any(b_moved)
    for key, value in dump.items():
        if ".lora_" in key:
            continue
        name = key.removeprefix("base_model.model.").replace(".base_layer.", ".")
        assert torch.equal(value, initial[name]), f"{name} changed"
    assert any("visual" in key for key in dump) and len(dump) - len(adapters) == len(initial)


def test_the_paired_pass_runs_on_the_adapted_model(lora_run):
    _, work_dir, _, _ = lora_run
    for step in range(1, STEPS + 1):
        record = torch.load(os.path.join(work_dir, "audit", f"step_{step}.pt"), weights_only=False)
        per_row = (record["u_per"] * record["response_mask"]).sum(-1)
        probed = record["is_noisy"].bool()
        assert probed.any() and (per_row[probed] > 0).all() and not per_row[~probed].any(), step


def _merged(dump, layer, alpha=ALPHA, rank=RANK):
    return dump[f"{layer}.base_layer.weight"] + (alpha / rank) * dump[f"{layer}.lora_B.default.weight"] @ dump[f"{layer}.lora_A.default.weight"]


def test_the_rollout_samples_from_the_merged_weights(lora_run):
    """After each step's update the rollout holds base + (alpha/r)·B·A of that step's checkpoint, rounded to bf16
    as verl sends merged weights (transformer_impl._merged_lora_per_tensor_param), and every other weight the
    initial one in bf16; the adapters' change is far above that rounding, so a sync without them fails here."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    records, work_dir, model_dir, checkpoint = lora_run
    syncs: dict[int, dict] = {}
    for path in glob.glob(os.path.join(work_dir, "syncs", "sync_*.safetensors")):
        with safe_open(path, framework="pt") as handle:
            syncs[int(handle.metadata()["global_steps"])] = load_file(path)
    assert sorted(syncs) == [0, 1, 2], sorted(syncs)  # the initial weights, then after each step's update
    initial = _initial(model_dir)
    assert all(torch.equal(value, initial[name].to(torch.bfloat16).float()) for name, value in syncs[0].items())
    for step in (1, 2):
        dump, received = _dump(checkpoint.replace(f"global_step_{STEPS}", f"global_step_{step}")), syncs[step]
        adapted = [key.removesuffix(".lora_A.default.weight") for key in dump if key.endswith(".lora_A.default.weight")]
        moved = 0.0
        for layer in adapted:
            name = layer.removeprefix("base_model.model.") + ".weight"
            expected = _merged(dump, layer)
            torch.testing.assert_close(received[name], expected.to(torch.bfloat16).float(), rtol=2**-7, atol=1e-6, msg=name)
            base = dump[f"{layer}.base_layer.weight"]
            moved = max(moved, float(((expected - base).abs() / base.abs().clamp_min(1e-2)).max()))
        if tiny_run.had_learning_signal(records, step):  # the adapters moved a weight far more than bf16 rounds
            assert moved > 10 * 2**-7, step
        else:  # every group tied so far: B is still 0
            assert moved == 0, step
        names = {layer.removeprefix("base_model.model.") + ".weight" for layer in adapted}
        for name, value in received.items():
            if name not in names:
                assert torch.equal(value, initial[name].to(torch.bfloat16).float()), (step, name)


def test_the_rollouts_probabilities_are_the_actors_within_bf16_rounding(lora_run):
    records, _, _, _ = lora_run
    for record in records:  # measured 5e-5 to 7e-5 (max over tokens 1e-3 to 6e-3)
        assert record["data"]["training/rollout_probs_diff_mean"] < 2e-3, record["step"]


def test_evaluate_merges_the_checkpoint_into_base_plus_scaled_adapters(lora_run, tmp_path):
    from transformers import AutoModelForImageTextToText

    from recipe.vogue.evaluation import run as ev

    records, _, _, checkpoint = lora_run
    model, step = ev.resolve_model(checkpoint, tmp_path / "out", tiny_run.cpu_environment())
    assert step == STEPS and not os.path.exists(os.path.join(model, "lora_adapter"))
    merged = AutoModelForImageTextToText.from_pretrained(model).state_dict()
    dump = _dump(checkpoint)
    for key in dump:
        if key.endswith(".lora_A.default.weight"):
            layer = key.removesuffix(".lora_A.default.weight")
            # verl's merger writes the base weights in bf16 and peft merges in that dtype, A and B rounded to it too:
            # with u = 2^-8, rounding the base costs ≤ u·|base|, rounding A and B ≤ 2u·terms, their product ≤ u·terms
            # and the sum u·|base + delta| ≤ u·(|base| + terms): the error is ≤ 2u·|base| + 4u·terms, whatever was learned
            base, delta = dump[f"{layer}.base_layer.weight"], _merged(dump, layer) - dump[f"{layer}.base_layer.weight"]
            terms = (ALPHA / RANK) * dump[f"{layer}.lora_B.default.weight"].abs() @ dump[f"{layer}.lora_A.default.weight"].abs()
            error = (merged[layer.removeprefix("base_model.model.") + ".weight"].float() - (base + delta)).abs()
            assert (error <= 2**-7 * base.abs() + 2**-6 * terms + 1e-6).all(), layer
            if tiny_run.had_learning_signal(records, STEPS):  # the adapters are in it
                assert (delta.abs() > 2**-5 * base.abs().clamp_min(1e-2)).any(), layer
            else:  # every group tied: B is still 0
                assert not delta.any(), layer
