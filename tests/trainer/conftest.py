"""Fixtures for the trainer tests: hydra composition of the VOGUE
config, a hand-made rollout batch (verl's post-rollout layout) and a stub actor worker group."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "recipe" / "vogue" / "config"

CONFIG_GROUPS = ("vogue", "noisyrollout", "base")  # composed by hydra; every other override is a value
# Enough for the trainer to run its hooks without Ray; everything else keeps verl's defaults.
TEST_OVERRIDES = [
    "actor_rollout_ref.model.path=/nonexistent/tiny-vl",
    "actor_rollout_ref.rollout.n=3",
    "actor_rollout_ref.actor.ppo_mini_batch_size=2",
    "data.train_batch_size=2",
]


def hydra_compose(overrides) -> "DictConfig":
    """The real thing: hydra composes vogue_trainer.yaml (verl's ppo_trainer + vogue) with ``overrides``."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name="vogue_trainer", overrides=list(overrides))


@functools.lru_cache(maxsize=8)
def _composed(overrides: tuple) -> "DictConfig":
    return hydra_compose(overrides)


def apply_value_overrides(config, overrides) -> None:
    """Apply ``key=value`` / ``+key=value`` overrides parsed by hydra's own grammar, in place.

    Composing verl's ppo_trainer takes seconds; tests compose once per config-group choice and apply
    value overrides here (``test_fast_overrides_match_hydra`` checks that both paths agree).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key, value = override.key_or_group, override.value()
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(config, parent) if parent else config
        if not override.is_add() and (node is None or leaf not in node.keys()):
            raise KeyError(f"could not override {key!r}: not in the config (use +{key}=...)")
        with open_dict(config):
            OmegaConf.update(config, key, value, force_add=override.is_add())


@pytest.fixture(scope="session")
def real_compose():
    return lambda overrides=(): hydra_compose([*TEST_OVERRIDES, *overrides])


@pytest.fixture(scope="session")
def real_compose_without_test_overrides():
    return hydra_compose


@pytest.fixture(scope="session")
def compose():
    """compose(overrides) -> the vogue_trainer config: hydra composition per preset, then value overrides."""
    import copy

    def _compose(overrides=(), base=TEST_OVERRIDES):
        groups = tuple(o for o in overrides if o.split("=", 1)[0] in CONFIG_GROUPS)
        values = [o for o in overrides if o.split("=", 1)[0] not in CONFIG_GROUPS]
        config = copy.deepcopy(_composed((*base, *groups)))
        apply_value_overrides(config, values)
        return config

    return _compose


def random_image(seed: int, size=(56, 56)) -> Image.Image:
    pixels = np.random.RandomState(seed).randint(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def raw_inputs_for(image_processor, image: Image.Image) -> dict:
    """What verl's agent loop stores in multi_modal_inputs for one image (processor output + images_seqlens)."""
    inputs = dict(image_processor(images=[image], return_tensors="pt"))
    grid = inputs["image_grid_thw"]
    inputs["images_seqlens"] = torch.repeat_interleave(grid[:, 1] * grid[:, 2], grid[:, 0])
    return inputs


# 2 prompts × n=3 responses. Prompt width 6 (left padded), response width 5 (right padded).
PROMPT_LENS = [4, 4, 4, 5, 5, 5]
RESPONSE_LENS = [5, 3, 4, 2, 5, 1]
SCORES = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
UIDS = ["u0", "u0", "u0", "u1", "u1", "u1"]
PROMPT_WIDTH, RESPONSE_WIDTH = 6, 5


def rollout_tensors(prompt_lens, response_lens, vocab=(10, 90), seed=0) -> dict:
    """verl's post-rollout token tensors: prompts left-padded, responses right-padded, 1-D positions."""
    generator = torch.Generator().manual_seed(seed)
    size, prompt_width, response_width = len(prompt_lens), max(prompt_lens), max(response_lens)
    prompts = torch.zeros(size, prompt_width, dtype=torch.long)
    responses = torch.zeros(size, response_width, dtype=torch.long)
    prompt_mask, response_mask = torch.zeros_like(prompts), torch.zeros_like(responses)
    for row, (prompt_len, response_len) in enumerate(zip(prompt_lens, response_lens, strict=True)):
        prompts[row, prompt_width - prompt_len :] = torch.randint(*vocab, (prompt_len,), generator=generator)
        prompt_mask[row, prompt_width - prompt_len :] = 1
        responses[row, :response_len] = torch.randint(*vocab, (response_len,), generator=generator)
        response_mask[row, :response_len] = 1
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    return {
        "prompts": prompts,
        "responses": responses,
        "input_ids": torch.cat([prompts, responses], dim=1),
        "attention_mask": attention_mask,
        "position_ids": (attention_mask.cumsum(-1) - 1).clamp(min=0),
        "response_mask": response_mask,
    }


@pytest.fixture(scope="session")
def make_rollout_tensors():
    return rollout_tensors


@pytest.fixture
def make_batch(image_processor):
    """make_batch() -> a DataProto shaped like verl's batch after rollout + reward, before log-probs."""
    from verl import DataProto

    def _make(text_only_rows=(), uids=UIDS, indices=(0, 1, 2), group=3):
        """``text_only_rows``: rows whose prompt has no image (no pixel_values, no image in raw_prompt);
        ``uids``: verl's per-step random group ids; ``indices``: extra_info.index of the prompts; ``group``:
        responses per prompt (rows p·group … p·group + group − 1 share prompt p)."""
        tensors = rollout_tensors(PROMPT_LENS, RESPONSE_LENS)
        scores = torch.zeros(len(UIDS), RESPONSE_WIDTH)
        for row, response_len in enumerate(RESPONSE_LENS):
            scores[row, response_len - 1] = SCORES[row]
        slots = [row // group for row in range(len(UIDS))]
        images = [random_image(seed) for seed in range(max(slots) + 1)]
        raw_prompt = np.empty(len(UIDS), dtype=object)
        multi_modal_inputs = np.empty(len(UIDS), dtype=object)
        for row, slot in enumerate(slots):
            text = {"type": "text", "text": f"question {slot}"}
            if row in text_only_rows:
                raw_prompt[row] = [{"role": "user", "content": [text]}]
                multi_modal_inputs[row] = {}
            else:
                raw_prompt[row] = [{"role": "user", "content": [{"type": "image", "image": images[slot]}, text]}]
                multi_modal_inputs[row] = raw_inputs_for(image_processor, images[slot])
        extra_info = np.empty(len(UIDS), dtype=object)
        extra_info[:] = [{"index": indices[slot], "split": "train"} for slot in slots]
        return DataProto.from_dict(
            tensors={**tensors, "token_level_scores": scores, "token_level_rewards": scores.clone()},
            non_tensors={
                "uid": np.array(uids, dtype=object),
                "data_source": np.array(["synthetic"] * len(UIDS), dtype=object),
                "extra_info": extra_info,
                "raw_prompt": raw_prompt,
                "multi_modal_inputs": multi_modal_inputs,
            },
            meta_info={
                "temperature": 1.0,
                "global_token_num": tensors["attention_mask"].sum(-1).tolist(),
                "images_seqlens": [],
            },
        )

    return _make


def pixel_signal(inputs: dict) -> float:
    """The stub model's view of a row's image (0 for a text-only row)."""
    return float(inputs["pixel_values"].float().mean()) if "pixel_values" in inputs else 0.0


def stub_log_prob(signal: float, position: torch.Tensor) -> torch.Tensor:
    """The stub model's log-prob at a sequence position for a row whose pixels average ``signal``."""
    return -(0.1 + 0.3 * abs(signal)) - 0.001 * position.double()


def stub_entropy(signal: float, position: torch.Tensor) -> torch.Tensor:
    return 0.5 + abs(signal) + 0.002 * position.double()


def stub_symmetric_kl(raw_signal: float, noisy_signal: float, position: torch.Tensor) -> torch.Tensor:
    return (raw_signal - noisy_signal) ** 2 + 0.003 * position.double()


class StubActorWorkerGroup:
    """Stands in for the actor RayWorkerGroup: deterministic per-token outputs from pixels and positions.

    Records every call: (method, per-row multi_modal_inputs, per-row noisy inputs or None, input_ids).
    """

    def __init__(self, dp_size: int = 2):
        self._dispatch_info = {"actor": list(range(dp_size))}
        self.calls = []
        self.updates = []
        self.estimators = []

    @staticmethod
    def _per_row(td, make_values):
        offsets = td["input_ids"].offsets()
        lengths = offsets.diff().tolist()
        values = [make_values(row, torch.arange(length)) for row, length in enumerate(lengths)]
        return torch.nested.as_nested_tensor([v.float() for v in values], layout=torch.jagged)

    def _check_dp(self, td):
        assert len(td) % len(self._dispatch_info["actor"]) == 0, "batch not divisible by the DP size"

    def compute_log_prob(self, td):
        from verl.utils import tensordict_utils as tu

        self._check_dp(td)
        rows = list(td["multi_modal_inputs"])
        self.calls.append(("compute_log_prob", rows, None, td["input_ids"]))
        signals = [pixel_signal(inputs) for inputs in rows]
        return tu.get_tensordict(
            tensor_dict={
                "log_probs": self._per_row(td, lambda r, pos: stub_log_prob(signals[r], pos)),
                "entropy": self._per_row(td, lambda r, pos: stub_entropy(signals[r], pos)),
            },
            non_tensor_dict={"metrics": {"mfu": 0.25}},
        )

    def compute_log_prob_with_noisy_branch(self, td):
        """The log-prob stage in one call: raw outputs for every row, noisy ones (and the full KL for the
        full-vocabulary estimators) for rows with noisy inputs, zeros elsewhere — like the real worker."""
        from verl.utils import tensordict_utils as tu

        self._check_dp(td)
        estimator = tu.get_non_tensor_data(td, "vogue_kl_estimator", None)
        self.estimators.append(estimator)
        rows, noisy_rows = list(td["multi_modal_inputs"]), list(td["paired_multi_modal_inputs"])
        self.calls.append(("compute_log_prob_with_noisy_branch", rows, noisy_rows, td["input_ids"]))
        raw = [pixel_signal(i) for i in rows]
        noisy = [None if n is None else pixel_signal(n) for n in noisy_rows]

        def when_noisy(function):
            return lambda r, pos: function(r, pos) if noisy[r] is not None else torch.zeros(len(pos), dtype=torch.float64)

        tensors = {
            "log_probs": self._per_row(td, lambda r, pos: stub_log_prob(raw[r], pos)),
            "entropy": self._per_row(td, lambda r, pos: stub_entropy(raw[r], pos)),
            "paired_log_probs": self._per_row(td, when_noisy(lambda r, pos: stub_log_prob(noisy[r], pos))),
            "paired_entropy": self._per_row(td, when_noisy(lambda r, pos: stub_entropy(noisy[r], pos))),
        }
        if estimator in ("full", "forward_full"):
            tensors["u_per"] = self._per_row(td, when_noisy(lambda r, pos: stub_symmetric_kl(raw[r], noisy[r], pos)))
        return tu.get_tensordict(tensor_dict=tensors, non_tensor_dict={"metrics": {"mfu": 0.5}})

    def update_actor(self, td):
        from verl.utils import tensordict_utils as tu

        self.updates.append(td["advantages"].clone())
        return tu.get_tensordict(tensor_dict={}, non_tensor_dict={"metrics": {"mfu": 0.1, "pg_loss": 0.0}})


def response_aligned(values_at_position, row: int) -> torch.Tensor:
    """[RESPONSE_WIDTH] values verl assigns to row's response tokens: token j is scored at position
    prompt_len + j − 1 of the unpadded sequence; padding is 0."""
    out = torch.zeros(RESPONSE_WIDTH, dtype=torch.float64)
    positions = PROMPT_LENS[row] + torch.arange(RESPONSE_LENS[row]) - 1
    out[: RESPONSE_LENS[row]] = values_at_position(positions)
    return out


@pytest.fixture
def make_trainer(compose, image_processor):
    """make_trainer(overrides, global_steps) -> VogueTrainer built without Ray (object.__new__ + attributes)."""
    from types import SimpleNamespace

    from recipe.vogue.trainer.dynamic_sampling import DynamicSampling
    from recipe.vogue.trainer.vogue_trainer import VogueTrainer
    from recipe.vogue.trainer.vogue_config import NoisyRolloutConfig, validate_run_config

    def _make(overrides=(), global_steps=1, total_training_steps=10, dp_size=2):
        trainer = object.__new__(VogueTrainer)
        trainer.config = compose(list(overrides))
        trainer.vogue = validate_run_config(trainer.config)
        trainer.noisy_rollout = NoisyRolloutConfig.from_config(trainer.config.get("noisyrollout"))
        trainer.dynamic_sampling = DynamicSampling.from_config(trainer.config)
        trainer.processor = SimpleNamespace(image_processor=image_processor)
        trainer.actor_rollout_wg = StubActorWorkerGroup(dp_size)
        trainer.global_steps = global_steps
        trainer.total_training_steps = total_training_steps
        trainer._vogue_metrics = {}
        trainer._generation_metrics = {}
        trainer._audit_log_prob_stage = {}
        trainer._warned_no_image = False
        return trainer

    return _make


@pytest.fixture(scope="session")
def stub_model():
    """The stub worker's formulas and the batch layout, for computing expectations in tests."""
    from types import SimpleNamespace

    return SimpleNamespace(
        pixel_signal=pixel_signal,
        log_prob=stub_log_prob,
        entropy=stub_entropy,
        symmetric_kl=stub_symmetric_kl,
        response_aligned=response_aligned,
        uids=UIDS,
        response_lens=RESPONSE_LENS,
        response_width=RESPONSE_WIDTH,
    )
