"""The rollout modes on a fake rollout manager (no Ray, no model): which images each row is generated from,
what the update sees, and Algorithm 1's two groups against a brute-force reference."""

from statistics import mean, stdev

import numpy as np
import pytest
import torch
from PIL import Image

from recipe.vogue.trainer.rollout_modes import (
    BRANCH_ADVANTAGES_KEY,
    generate_noisy_branch,
    generate_noisy_rollout,
    generate_two_groups,
    with_images,
)
from verl import DataProto

N, PROMPTS, WIDTH = 3, 2, 4


def picture(value):
    return Image.new("RGB", (28, 28), (value, value, value))


def prompt(slot):
    return [{"role": "user", "content": [{"type": "image", "image": picture(10 * slot), "max_pixels": 999},
                                          {"type": "text", "text": f"q{slot}"}]}]


def make_rows(n=N):
    """The rows of a step in generation order (n per prompt), as the wrapped manager receives them."""
    slots = [row // n for row in range(PROMPTS * n)]
    prompts = np.empty(len(slots), dtype=object)
    shared = [prompt(slot) for slot in range(PROMPTS)]
    prompts[:] = [shared[slot] for slot in slots]  # verl's repeat shares the prompt objects
    return DataProto.from_dict(
        tensors={"dummy_tensor": torch.zeros(len(slots), 1)},
        non_tensors={"uid": np.array([f"u{slot}" for slot in slots], dtype=object), "raw_prompt": prompts},
    )


class FakeManager:
    """Generates one response per row; its reward is the grey level of the row's first image / 10, and the
    agent loop's multi_modal_inputs are derived from that image (so the test sees which image was used)."""

    def __init__(self):
        self.seen = []

    def generate_sequences(self, rows):
        levels = [row[0]["content"][0]["image"].getpixel((0, 0))[0] for row in rows.non_tensor_batch["raw_prompt"]]
        self.seen.append((list(rows.non_tensor_batch["uid"]), levels))
        scores = torch.zeros(len(rows), WIDTH)
        scores[:, -1] = torch.tensor(levels, dtype=torch.float32) / 10
        inputs = np.empty(len(rows), dtype=object)
        inputs[:] = [{"pixel_values": torch.full((4, 3), float(level)), "image_grid_thw": torch.tensor([[1, 2, 2]])}
                     for level in levels]
        return DataProto.from_dict(
            tensors={"rm_scores": scores, "response_mask": torch.ones(len(rows), WIDTH),
                     "responses": torch.zeros(len(rows), WIDTH, dtype=torch.long)},
            non_tensors={"uid": rows.non_tensor_batch["uid"].copy(), "raw_prompt": rows.non_tensor_batch["raw_prompt"],
                         "multi_modal_inputs": inputs},
        )


def test_with_images_copies_and_keeps_the_other_keys():
    messages = prompt(1)
    copied = with_images(messages, [picture(200)])
    assert copied[0]["content"][0]["image"].getpixel((0, 0)) == (200, 200, 200)
    assert copied[0]["content"][0]["max_pixels"] == 999 and copied[0]["content"][1] == messages[0]["content"][1]
    assert messages[0]["content"][0]["image"].getpixel((0, 0)) == (10, 10, 10)  # the original is untouched
    with pytest.raises(ValueError, match="more images"):
        with_images(messages, [picture(1), picture(2)])


def test_noisy_branch_generates_the_drawn_rows_from_their_perturbed_images():
    manager, rows = FakeManager(), make_rows()
    output = generate_noisy_branch(manager, rows, {1: [picture(101)], 4: [picture(104)]})
    levels = manager.seen[0][1]
    assert levels == [0, 101, 0, 10, 104, 10]  # rows 1 and 4 from T(image), the others from x
    assert [float(i["pixel_values"][0, 0]) for i in output.non_tensor_batch["multi_modal_inputs"]] == levels
    assert rows.non_tensor_batch["raw_prompt"][1][0]["content"][0]["image"].getpixel((0, 0))[0] == 0  # untouched


def grpo_reference(scores):
    """(R − mean)/(unbiased std + 1e−6) within one group, by hand."""
    return [(s - mean(scores)) / (stdev(scores) + 1e-6) for s in scores]


def test_two_groups_keep_g_rows_per_prompt_with_their_branch_advantages():
    manager, rows = FakeManager(), make_rows()
    noisy = {row: [picture(50 + 7 * row)] for row in range(len(rows))}  # T(x) for every row: the x' group
    z = torch.tensor([True, False, True, False, False, True])
    output = generate_two_groups(manager, rows, noisy, z)
    uids, levels = manager.seen[0]
    assert len(levels) == 2 * len(rows)  # 2G generations per prompt
    assert uids[len(rows):] == [f"{u}#noisy" for u in rows.non_tensor_batch["uid"]]
    assert list(output.non_tensor_batch["uid"]) == list(rows.non_tensor_batch["uid"])  # G per prompt, original uids
    raw_scores = [level / 10 for level in levels[: len(rows)]]
    noisy_scores = [level / 10 for level in levels[len(rows):]]
    for row in range(len(rows)):
        group = slice(row // N * N, row // N * N + N)
        branch = noisy_scores if z[row] else raw_scores
        expected = grpo_reference(branch[group])[row % N]
        assert output.batch[BRANCH_ADVANTAGES_KEY][row].tolist() == pytest.approx([expected] * WIDTH, abs=1e-5)
        kept_level = float(output.non_tensor_batch["multi_modal_inputs"][row]["pixel_values"][0, 0])
        assert kept_level == (50 + 7 * row if z[row] else 10 * (row // N))  # updated under x' or x


def test_noisy_rollout_updates_every_row_on_the_clean_image():
    manager, rows = FakeManager(), make_rows(n=4)  # rollout.n = 2n with n = 2
    noised = {row: [picture(200 + row)] for row in range(len(rows)) if row % 4 >= 2}
    clean_of = {row: row - 2 for row in noised}
    output = generate_noisy_rollout(manager, rows, noised, clean_of)
    assert manager.seen[0][1] == [0, 0, 202, 203, 10, 10, 206, 207]  # the last n of each group from noised images
    assert len(set(output.non_tensor_batch["uid"][:4])) == 1  # one GRPO group of 2n
    assert [float(i["pixel_values"][0, 0]) for i in output.non_tensor_batch["multi_modal_inputs"]] == [0, 0, 0, 0, 10,
                                                                                                        10, 10, 10]
    assert all(p[0]["content"][0]["image"].getpixel((0, 0))[0] in (0, 10) for p in output.non_tensor_batch["raw_prompt"])
    assert output.batch["rm_scores"][2, -1] == pytest.approx(20.2)  # its reward is the noised generation's
