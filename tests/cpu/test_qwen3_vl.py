"""The tiny Qwen3-VL where VOGUE touches it: the build (CLI, processor geometry, what verl binds), the noisy
branch's images and grids under the size-preserving perturbation, and the preflight's patch-size check."""

import io
import json
import os

import pytest
import torch
from PIL import Image

from recipe.vogue.preflight import checks as preflight
from recipe.vogue.cpu import tiny
from recipe.vogue.trainer.dataset import with_pixel_limits
from recipe.vogue.core.noisy_branch import images_from_messages, noisy_multi_modal_inputs
from recipe.vogue.core.perturb import PerturbationSpec

REWARD = "pkg://vogue_reward.verl_entry"


def test_build_cli_writes_a_qwen3_vl_checkpoint(tmp_path):
    from transformers import AutoConfig, AutoProcessor

    from verl.utils import hf_processor

    assert tiny.main(["build", "--arch", "qwen3_vl", "--out", str(tmp_path)]) == 0
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.model_type == "qwen3_vl" and config.vision_config.patch_size == 16
    assert config.vision_config.deepstack_visual_indexes == [0]
    assert config.text_config.rope_parameters["mrope_interleaved"] is True
    processor = AutoProcessor.from_pretrained(tmp_path)
    assert type(processor).__name__ == "Qwen3VLProcessor"
    image_processor = processor.image_processor
    assert (image_processor.patch_size, image_processor.merge_size) == (16, 2)
    assert list(image_processor.image_mean) == [0.5] * 3 and list(image_processor.image_std) == [0.5] * 3
    # what verl's agent loop needs: its processor with the model's 3D rope index bound to it
    assert hasattr(hf_processor(str(tmp_path)), "get_rope_index")
    with open(os.path.join(tmp_path, "tiny_build.json")) as f:
        report = json.load(f)
    assert report["arch"] == "qwen3_vl" and 200_000 < report["parameters"] < 300_000


def test_default_build_is_still_qwen2_5_vl(tiny_model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert config.model_type == "qwen2_5_vl" and config.vision_config.patch_size == 14
    with pytest.raises(ValueError, match="unknown tiny architecture 'llava'"):
        tiny.build_model(tiny.build_tokenizer(), arch="llava")


@pytest.mark.parametrize("arch, side", [("qwen2_5_vl", 56), ("qwen3_vl", 64)])
def test_a_synthetic_image_is_four_tokens_on_both_architectures(arch, side, shape_images):
    processor = tiny.build_processor(tiny.build_tokenizer(), arch)
    (image,) = images_from_messages(messages(shape_images[0]), processor.image_processor.patch_size)
    assert image.size == (side, side)  # 56×56 resized to the architecture's factor (28 / 32 px)
    assert processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert tiny.pixel_bounds(arch) == ((2 * tiny.PATCH_SIZES[arch]) ** 2, (8 * tiny.PATCH_SIZES[arch]) ** 2)


def messages(*images, **limits):
    content = [{"type": "image", "image": image} for image in images] + [{"type": "text", "text": "q"}]
    return with_pixel_limits([{"role": "user", "content": content}], limits)


def noise_image(width, height, seed):
    generator = torch.Generator().manual_seed(seed)
    return Image.fromarray(torch.randint(0, 256, (height, width, 3), generator=generator, dtype=torch.uint8).numpy())


# sizes off the 32-px grid, elongated, tiny and above the tiny processor's pixel cap
SIZES = [(57, 91), (200, 30), (33, 33), (112, 112), (300, 170), (56, 56)]


@pytest.mark.parametrize("limits", [{}, {"min_pixels": 64 * 64, "max_pixels": 128 * 128}], ids=["default", "limits"])
def test_noisy_branch_keeps_the_qwen3_vl_grid(limits):
    """The noisy branch re-extracts the images as the agent loop does (the processor's patch_size, 16) and
    re-processes T(image): the grid, hence the image tokens of the teacher-forced sequence, is unchanged and
    the pixels are not, for every size and for the per-image pixel limits of recipe/vogue/trainer/dataset.py."""
    image_processor = tiny.build_processor(tiny.build_tokenizer(), "qwen3_vl").image_processor
    spec = PerturbationSpec()
    for seed, size in enumerate(SIZES):
        images = images_from_messages(messages(noise_image(*size, seed), noise_image(*size[::-1], seed + 50), **limits),
                                      image_processor.patch_size)
        assert all(side % 32 == 0 for image in images for side in image.size), [image.size for image in images]
        raw = dict(image_processor(images=images, return_tensors="pt"))
        noisy = noisy_multi_modal_inputs(raw, images, image_processor, spec, seed=seed, row=seed)
        assert torch.equal(noisy["image_grid_thw"], raw["image_grid_thw"])
        assert noisy["pixel_values"].shape == raw["pixel_values"].shape
        assert not torch.equal(noisy["pixel_values"], raw["pixel_values"])
        if limits:  # within the processor's own bounds it keeps the agent loop's size: 16 px per patch
            assert [[1, image.height // 16, image.width // 16] for image in images] == raw["image_grid_thw"].tolist()
            tokens = raw["image_grid_thw"].prod(-1) // 4
            assert ((tokens >= 4) & (tokens <= 16)).all(), tokens  # 64² … 128² pixels of 32² per token


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def composed(model_dir, cpu_config, *overrides):
    return preflight.compose([f"+cpu={cpu_config}", f"actor_rollout_ref.model.path={model_dir}", *overrides])


@pytest.mark.parametrize("cpu_config, model, status, detail", [
    ("tiny", "tiny_qwen3_vl_model_dir", "ERROR", "14 vs the processor's patch_size 16"),
    ("tiny_qwen3_vl", "tiny_qwen3_vl_model_dir", "OK", "16 vs the processor's patch_size 16"),
    ("tiny_qwen3_vl", "tiny_model_dir", "ERROR", "16 vs the processor's patch_size 14"),
])
def test_preflight_checks_data_image_patch_size_against_the_processor(request, cpu_config, model, status, detail):
    """verl's data.image_patch_size defaults to 14 and sizes the overlong filter's images; the agent loop
    uses the processor's 16: cpu/tiny_qwen3_vl.yaml sets 16 and the preflight refuses a mismatch."""
    from verl.utils import hf_processor

    model_dir = request.getfixturevalue(model)
    findings = preflight.check_token_budgets(composed(model_dir, cpu_config), hf_processor(model_dir))
    (line,) = [f for f in findings if f.check == "data.image_patch_size"]
    assert (line.status, line.detail.startswith(detail)) == (status, True), line


def test_preflight_counts_qwen3_vl_image_tokens_with_its_32_px_factor(tiny_qwen3_vl_model_dir, tmp_path, monkeypatch):
    """A whole preflight of a tiny Qwen3-VL run: every line passes (GPU lines SKIPPED), 56×56 images count 4
    tokens as the agent loop's processor makes them, and the pixel cap is 16 tokens of 32×32."""
    import pandas as pd

    monkeypatch.setattr(preflight, "_free_bytes", lambda path: 10 * 2**40)
    question = "What colour is the shape? Think in <think> </think>, answer in \\boxed{}."
    rows = [{"data_source": "crafted", "prompt": [{"role": "user", "content": "<image>" + question}],
             "images": [{"bytes": png(Image.new("RGB", (56, 56), (200, 30, 30))), "path": None}],
             "ability": "general", "reward_model": {"style": "rule", "ground_truth": "red"},
             "extra_info": {"index": i, "split": "x", "answer_type": "text", "question": question}} for i in range(8)]
    data = str(tmp_path / "rows.parquet")
    pd.DataFrame(rows).to_parquet(data)
    findings = preflight.run([
        "+cpu=tiny_qwen3_vl", f"actor_rollout_ref.model.path={tiny_qwen3_vl_model_dir}", f"data.train_files={data}",
        f"data.val_files={data}", f"reward.custom_reward_function.path={REWARD}", "trainer.logger=[console]",
        "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4", "data.val_batch_size=8",
        f"data.image_max_pixels={128 * 128}", f"trainer.default_local_dir={tmp_path / 'ckpt'}",
    ], workers=1, cache_dir=None)
    table = preflight.format_table(findings)
    assert [f for f in findings if f.status == "ERROR"] == [], table
    assert "image tokens p50 4 / p95 4 / max 4" in table
    assert "an image at data.image_max_pixels=16384 is 16 tokens" in table


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_fast_noisy_processing_is_bit_identical_for_both_architectures(arch):
    """The noisy branch's own rescale/normalise/patch pass equals the processor's output bit for bit (Qwen3-VL:
    16-px patches, mean/std 0.5), and images the processor would resize go through the processor itself."""
    import torchvision.transforms.v2.functional as TF

    from recipe.vogue.core.noisy_branch import _process

    image_processor = tiny.build_processor(tiny.build_tokenizer(), arch).image_processor
    factor = image_processor.patch_size * image_processor.merge_size
    for seed, size in enumerate([(2 * factor, 2 * factor), (3 * factor, factor), (57, 91)]):
        pixels = [TF.pil_to_tensor(noise_image(*size, seed))]
        ours, reference = _process(image_processor, pixels, {}), image_processor(images=pixels, return_tensors="pt")
        assert torch.equal(ours["pixel_values"], reference["pixel_values"]), (arch, size)
        assert torch.equal(ours["image_grid_thw"], reference["image_grid_thw"])
