"""Noisy-branch inputs: seeds, branch draws, and the processor re-run on perturbed images."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from recipe.vogue.core.noisy_branch import (
    NoisyBranchError,
    changed_images,
    draw_branches,
    has_image,
    images_from_messages,
    noisy_multi_modal_inputs,
    perturbation_seeds,
    prompt_identities,
    stable_seed,
)
from recipe.vogue.core.perturb import PerturbationSpec, perturb_image

LINEAR = {"type": "linear", "start": 1.0, "end": 0.0, "fixed": 0.5}
SPEC = PerturbationSpec()


def image(seed=0, size=(84, 56)):
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=generator, dtype=torch.uint8)
    return Image.fromarray(pixels.numpy())


def raw_inputs(image_processor, images):
    return dict(image_processor(images=images, return_tensors="pt"))


def test_stable_seed_is_deterministic_and_separates_parts():
    assert stable_seed(0, 3, "uid", 4) == stable_seed(0, 3, "uid", 4)
    seeds = {stable_seed(0, step, uid, row) for step in range(3) for uid in ("a", "b") for row in range(3)}
    assert len(seeds) == 18
    assert stable_seed(1, 23) != stable_seed(12, 3)  # parts are delimited, not concatenated
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_draws_depend_only_on_seed_and_step():
    uids = [f"u{i // 5}" for i in range(40)]
    first = draw_branches(uids, 7, 20, 0, LINEAR, "sample", 0.2)
    again = draw_branches(uids, 7, 20, 0, LINEAR, "sample", 0.2)
    assert torch.equal(first.is_noisy, again.is_noisy) and torch.equal(first.is_monitor, again.is_monitor)
    assert first.probability == pytest.approx(1 - 7 / 20)
    assert not (first.is_noisy & first.is_monitor).any()
    assert torch.equal(first.is_probed, first.is_noisy | first.is_monitor)
    others = [draw_branches(uids, 7, 20, seed, LINEAR, "sample", 0.2).is_noisy for seed in (1, 2)]
    assert any(not torch.equal(first.is_noisy, other) for other in others)


def test_draw_granularities():
    uids = [f"u{i // 4}" for i in range(400)]
    by_step = draw_branches(uids, 0, 10, 3, {**LINEAR, "type": "fixed"}, "step", 0.0).is_noisy
    assert by_step.all() or not by_step.any()
    by_group = draw_branches(uids, 0, 10, 3, {**LINEAR, "type": "fixed"}, "group", 0.0).is_noisy.view(-1, 4)
    assert (by_group.all(-1) | ~by_group.any(-1)).all()
    per_sample = draw_branches(uids, 0, 10, 3, {**LINEAR, "type": "fixed"}, "sample", 0.0).is_noisy
    assert 0.4 < per_sample.float().mean() < 0.6  # p = 0.5, 400 draws: 5 standard deviations
    assert draw_branches(uids, 10, 10, 3, LINEAR, "sample", 0.0).is_noisy.sum() == 0
    assert draw_branches(uids, 0, 10, 3, LINEAR, "sample", 0.0).is_noisy.all()


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 0.99), st.integers(0, 2**31))
def test_monitored_rows_are_raw_rows_at_about_the_fraction(fraction, seed):
    uids = [str(i) for i in range(64)]
    draw = draw_branches(uids, 0, 10, seed, {**LINEAR, "type": "fixed", "fixed": 0.0}, "sample", fraction)
    assert not draw.is_noisy.any()
    low, high = binomial_bounds(64, fraction, tail=1e-9)
    assert low <= int(draw.is_monitor.sum()) <= high


def binomial_bounds(n: int, p: float, tail: float) -> tuple[int, int]:
    """The widest counts a Binomial(n, p) draw stays within but with probability ≤ ``tail`` on each side."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    low = next(k for k in range(n + 1) if sum(pmf[: k + 1]) > tail)
    high = next(k for k in range(n, -1, -1) if sum(pmf[k:]) > tail)
    return low, high


def test_images_from_messages_resizes_like_the_agent_loop(image_processor):
    content = [{"type": "image", "image": image(size=(90, 50))}, {"type": "text", "text": "q"}]
    messages = [{"role": "user", "content": content}]
    (resized,) = images_from_messages(messages, image_patch_size=14)
    assert resized.size[0] % 28 == 0 and resized.size[1] % 28 == 0
    assert images_from_messages([{"role": "user", "content": "text only"}], 14) == []


def test_noisy_inputs_change_only_pixels(image_processor):
    images = [image(0), image(1, size=(56, 56))]
    raw = {**raw_inputs(image_processor, images), "images_seqlens": torch.tensor([24, 16])}
    noisy = noisy_multi_modal_inputs(raw, images, image_processor, SPEC, seed=5, row=0)
    assert set(noisy) == set(raw)
    assert torch.equal(noisy["image_grid_thw"], raw["image_grid_thw"])
    assert noisy["images_seqlens"] is raw["images_seqlens"]
    assert noisy["pixel_values"].shape == raw["pixel_values"].shape
    assert not torch.equal(noisy["pixel_values"], raw["pixel_values"])
    # the pixels are exactly the processor's output for T(image_k) with seed (seed, k)
    expected = image_processor(
        images=[perturb_image(img, SPEC, stable_seed("image", 5, k)) for k, img in enumerate(images)],
        return_tensors="pt",
    )["pixel_values"]
    assert torch.equal(noisy["pixel_values"], expected)
    again = noisy_multi_modal_inputs(raw, images, image_processor, SPEC, seed=5, row=0)
    assert torch.equal(again["pixel_values"], noisy["pixel_values"])
    other = noisy_multi_modal_inputs(raw, images, image_processor, SPEC, seed=6, row=0)
    assert not torch.equal(other["pixel_values"], noisy["pixel_values"])


def test_missing_pixel_values(image_processor):
    with pytest.raises(NoisyBranchError, match="row 3: multi_modal_inputs has no pixel_values"):
        noisy_multi_modal_inputs({"image_grid_thw": torch.tensor([[1, 4, 4]])}, [image()], image_processor, SPEC, 0, 3)
    raw = raw_inputs(image_processor, [image()])
    with pytest.raises(NoisyBranchError, match="row 1: the prompt has pixel_values but no image"):
        noisy_multi_modal_inputs(raw, [], image_processor, SPEC, 0, 1)


def test_identical_pixels_fail(image_processor):
    raw = raw_inputs(image_processor, [image()])
    identity = PerturbationSpec(hflip=False, vflip=False, rotate=False, color_jitter=False, gaussian_noise=False)
    with pytest.raises(NoisyBranchError, match="row 2: the perturbed pixel_values equal the raw ones"):
        noisy_multi_modal_inputs(raw, [image()], image_processor, identity, 0, 2)


def test_grid_or_shape_change_fails(image_processor):
    raw = raw_inputs(image_processor, [image()])
    with pytest.raises(NoisyBranchError, match=r"row 0: image_grid_thw changed"):
        noisy_multi_modal_inputs(raw, [image(size=(112, 56))], image_processor, SPEC, 0, 0)
    without_grid = {"pixel_values": raw["pixel_values"]}
    with pytest.raises(NoisyBranchError, match=r"row 0: pixel_values shape changed"):
        noisy_multi_modal_inputs(without_grid, [image(size=(112, 56))], image_processor, SPEC, 0, 0)

    def no_pixels(images, **kwargs):
        return {"image_grid_thw": raw["image_grid_thw"]}

    with pytest.raises(NoisyBranchError, match="returned no pixel_values"):
        noisy_multi_modal_inputs(raw, [image()], no_pixels, SPEC, 0, 0)


def chat(text, picture=None, as_bytes=False):
    content = [{"type": "text", "text": text}]
    if picture is not None:
        item = {"type": "image", "bytes": png(picture)} if as_bytes else {"type": "image", "image": picture}
        content.insert(0, item)
    return [{"role": "user", "content": content}]


def png(picture):
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_prompt_identity_is_source_and_index_when_unique():
    prompts = [chat("a", image(0)), chat("b", image(1))]
    ids = prompt_identities(["mathvista", "chartqa"], [{"index": 3}, {"index": 3}], prompts)
    assert ids == ["mathvista\x1f3", "chartqa\x1f3"]  # the same index in two files of a mix stays distinct


def test_prompt_identity_falls_back_to_a_content_hash():
    prompts = [chat("a", image(0)), chat("a", image(1)), chat("b", image(0)), chat("a", image(0))]
    # no extra_info at all, or no index (verl would fill 0), or the same (source, index) for different prompts
    for extra in (None, [{}, {"split": "x"}, {"index": None}, {}], [{"index": 0}] * 4):
        ids = prompt_identities(["s"] * 4, extra, prompts)
        assert len(set(ids[:3])) == 3  # text or image differs -> different identity
        assert ids[3] == ids[0] + "\x1f1"  # the very same prompt twice in a step: told apart by occurrence
    # bytes and PIL images hash by their own content, independent of the slot's position
    assert prompt_identities(None, None, [chat("a", image(0), as_bytes=True)]) == prompt_identities(
        None, None, [chat("z"), chat("a", image(0), as_bytes=True)])[1:]
    assert prompt_identities(None, None, [chat("a", image(0))]) != prompt_identities(None, None, [chat("a", image(1))])


def test_perturbation_seeds_name_the_response_not_the_row():
    ids = ["p0", "p1"]
    order = [0, 1, 2, 3, 4, 5]
    seeds = perturbation_seeds(7, 3, ids, order, n=3)
    assert len(set(seeds)) == 6
    shuffled = [4, 0, 5, 2, 1, 3]
    assert perturbation_seeds(7, 3, ids, shuffled, n=3) == [seeds[g] for g in shuffled]
    assert perturbation_seeds(7, 4, ids, order, n=3) != seeds  # a fresh perturbation every step
    assert perturbation_seeds(8, 3, ids, order, n=3) != seeds
    assert perturbation_seeds(7, 3, ["p1", "p0"], order, n=3) == seeds[3:] + seeds[:3]  # follows the prompt


def test_has_image():
    assert has_image([{"pixel_values": torch.zeros(1)}, {}, {"pixel_values": None}, None]).tolist() == [
        True, False, False, False]


def test_only_the_first_image_is_perturbed_when_asked(image_processor):
    images = [image(0), image(1)]
    raw = raw_inputs(image_processor, images)
    first = noisy_multi_modal_inputs(raw, images, image_processor, PerturbationSpec(images="first"), 5, 0)
    every = noisy_multi_modal_inputs(raw, images, image_processor, PerturbationSpec(), 5, 0)
    per_image = int(raw["image_grid_thw"][0].prod())
    assert not torch.equal(first["pixel_values"][:per_image], raw["pixel_values"][:per_image])
    assert torch.equal(first["pixel_values"][per_image:], raw["pixel_values"][per_image:])
    assert not torch.equal(every["pixel_values"][per_image:], raw["pixel_values"][per_image:])
    assert torch.equal(first["pixel_values"][:per_image], every["pixel_values"][:per_image])


def test_changed_images_names_the_perturbed_images_of_a_row(image_processor):
    images = [image(0), image(1, size=(56, 56)), image(2)]
    raw = raw_inputs(image_processor, images)
    grid = raw["image_grid_thw"]
    for spec, expected in ((PerturbationSpec(images="first"), [True, False, False]),
                           (PerturbationSpec(), [True, True, True])):
        noisy = noisy_multi_modal_inputs(raw, images, image_processor, spec, 5, 0)
        assert changed_images(raw["pixel_values"], noisy["pixel_values"], grid) == expected
        assert changed_images(noisy["pixel_values"], raw["pixel_values"], grid) == expected
        # fp32 processor pixels against paired pixels in a bf16 compute dtype, either way round
        paired = noisy["pixel_values"].bfloat16()
        assert changed_images(raw["pixel_values"], paired, grid) == expected
        assert changed_images(paired, raw["pixel_values"], grid) == expected
    # by brute force: one changed patch row flags exactly the image that owns it
    sizes = grid.prod(-1).tolist()
    for row in (0, sizes[0] - 1, sizes[0], sum(sizes) - 1):
        edited = raw["pixel_values"].clone()
        edited[row, 0] += 1
        owner = next(k for k in range(3) if row < sum(sizes[:k + 1]))
        assert changed_images(raw["pixel_values"], edited, grid) == [k == owner for k in range(3)]
    with pytest.raises(NoisyBranchError, match="do not hold"):
        changed_images(raw["pixel_values"][:-1], raw["pixel_values"][:-1], grid)


@pytest.mark.parametrize("size", [(56, 56), (84, 56), (112, 28)])
def test_fast_processing_equals_the_processor(image_processor, size):
    """Rescale + normalise + patches in one float pass equals the Qwen-VL processor's pixel_values bit for bit
    (an image left unperturbed must stay identical to its raw pixels), for images it would not resize."""
    import torchvision.transforms.v2.functional as TF

    from recipe.vogue.core.noisy_branch import _process

    pixels = [TF.pil_to_tensor(image(seed, size)) for seed in range(2)]
    ours = _process(image_processor, pixels, {})
    reference = image_processor(images=pixels, return_tensors="pt")
    assert torch.equal(ours["image_grid_thw"], reference["image_grid_thw"])
    assert torch.equal(ours["pixel_values"], reference["pixel_values"])


def test_images_the_processor_would_resize_go_through_the_processor(image_processor):
    import torchvision.transforms.v2.functional as TF

    from recipe.vogue.core.noisy_branch import _process

    for size in [(60, 50), (560, 560)]:  # not a multiple of 28; above the processor's pixel cap
        pixels = [TF.pil_to_tensor(image(0, size))]
        reference = image_processor(images=pixels, return_tensors="pt")
        ours = _process(image_processor, pixels, {})
        assert torch.equal(ours["pixel_values"], reference["pixel_values"])
        assert torch.equal(ours["image_grid_thw"], reference["image_grid_thw"])
