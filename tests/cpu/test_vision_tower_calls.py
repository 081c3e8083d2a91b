"""Every forward of verl's patched Qwen2.5-VL and Qwen3-VL runs the vision tower exactly once, with or without an
image in the micro-batch, on the packed path the GPU launchers use (use_remove_padding=True) as on the padded
one: so the FSDP all-gathers of the tower's blocks never depend on which rows a rank holds. Each case runs in
a fresh process (verl's monkey patch changes the transformers classes)."""

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys, torch
from transformers import AutoModelForImageTextToText
from recipe.vogue.trainer.verl_patches import patch_qwen2_vl_text_only_batches
from verl.models.transformers.monkey_patch import apply_monkey_patch

model_dir, arch, packed = sys.argv[1], sys.argv[2], sys.argv[3] == "packed"
patch_qwen2_vl_text_only_batches()
if arch == "qwen2_5_vl":
    from verl.models.transformers import qwen2_vl as verl_model
    base_forward = verl_model.qwen2_vl_base_forward
else:
    from verl.models.transformers import qwen3_vl as verl_model
    base_forward = verl_model.qwen3_vl_base_forward
model = AutoModelForImageTextToText.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="sdpa")
apply_monkey_patch(model=model, use_remove_padding=packed, ulysses_sp_size=1)
inner = model.model
calls = []
inner.visual.register_forward_hook(lambda *args: calls.append(1))
vision = inner.config.vision_config
patch_dim = vision.in_channels * vision.temporal_patch_size * vision.patch_size ** 2
image_token = model.config.image_token_id
counts = {}
with torch.no_grad():
    text = torch.tensor([[5, 6, 7, 8, 9]])
    verl_model._get_input_embeds(inner, text, torch.ones_like(text))
    counts["text_only"] = len(calls)
    image = torch.tensor([[5, image_token, image_token, image_token, image_token, 9]])
    verl_model._get_input_embeds(inner, image, torch.ones_like(image), torch.rand(16, patch_dim), None,
                                 torch.tensor([[1, 4, 4]]))
    counts["with_image"] = len(calls) - counts["text_only"]
print(json.dumps({"base_forward_is_verls": type(inner).forward is base_forward, **counts}))
"""


@pytest.mark.parametrize("layout", ["packed", "padded"])
@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_every_forward_runs_the_vision_tower_once(arch, layout, tiny_model_dir, tiny_qwen3_vl_model_dir):
    model_dir = tiny_model_dir if arch == "qwen2_5_vl" else tiny_qwen3_vl_model_dir
    result = subprocess.run([sys.executable, "-c", SCRIPT, model_dir, arch, layout], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    # verl installs its base forward (which embeds through _get_input_embeds) whatever the layout
    assert counts == {"base_forward_is_verls": True, "text_only": 1, "with_image": 1}
