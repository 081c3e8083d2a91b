"""A tiny, offline Qwen2.5-VL or Qwen3-VL (model + tokenizer + processor) for CPU runs and tests.

    python -m recipe.vogue.cpu.tiny build --out DIR [--arch qwen2_5_vl|qwen3_vl] [--seed 0] [--warm-start-data train.parquet]

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on the synthetic task's text plus
Qwen's special tokens and a Qwen-style chat template (shared by both architectures); the image
processor is transformers' Qwen2-VL image processor with small pixel bounds; the model is a randomly
initialised ``Qwen2_5_VLForConditionalGeneration`` (default) or ``Qwen3VLForConditionalGeneration`` of
about 0.25M parameters. With ``--warm-start-data`` the model is then fine-tuned for a few supervised
steps on the answers of that parquet (see ``warm_start``), so that it emits the answer format and
starts above chance: a random policy never earns a reward, and RL would have nothing to learn from.

The Qwen3-VL build differs where VOGUE touches the model, as the published Qwen3-VL-Instruct does:
16-px patches (images resized to multiples of 32 with the 2×2 merge, so ``data.image_patch_size=16``),
image mean/std 0.5, ``Qwen3VLProcessor`` (its outputs carry ``mm_token_type_ids``, without which
transformers refuses to compute Qwen3-VL's 3D positions), interleaved M-RoPE and a DeepStack merger
feeding the first decoder layer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

__all__ = ["ARCHITECTURES", "SPECIAL_TOKENS", "CHAT_TEMPLATE", "PATCH_SIZES", "pixel_bounds", "build_tokenizer",
           "build_processor", "build_model", "build"]

ARCHITECTURES = ("qwen2_5_vl", "qwen3_vl")

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2.5-VL's chat layout (without the default system turn, to keep tiny sequences short).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Vision patch size per architecture (the published models': Qwen2.5-VL 14 px, Qwen3-VL 16 px); both
# merge 2×2 patches into one image token, so images are resized to multiples of 2 × patch size.
PATCH_SIZES = {"qwen2_5_vl": 14, "qwen3_vl": 16}
MERGE_SIZE = 2


def _check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown tiny architecture {arch!r}; choose from {list(ARCHITECTURES)}")


def pixel_bounds(arch: str = "qwen2_5_vl") -> tuple[int, int]:
    """(min_pixels, max_pixels) of the tiny processor: 1 to 16 image tokens. A 56×56 synthetic image is
    4×4 patches (resized to 64×64 for Qwen3-VL's 32-px factor), i.e. 4 merged image tokens."""
    _check_arch(arch)
    factor = PATCH_SIZES[arch] * MERGE_SIZE
    return factor**2, (4 * factor) ** 2


def _training_corpus(task: str = "shapes") -> list[str]:
    from data_prep import synthetic
    from data_prep.rows import INSTRUCTION

    corpus = [INSTRUCTION, "<think>", "</think>", "\\boxed{", "}", "0123456789", "abcdefghijklmnopqrstuvwxyz"]
    corpus += synthetic.vocabulary_text(task)
    return corpus


def build_tokenizer(vocab_size: int = 512, task: str = "shapes"):
    """Byte-level BPE over the text of the synthetic ``task`` (``data_prep.synthetic.TASKS``); Qwen's special
    tokens; ``<|im_end|>`` is EOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_corpus(task), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
    )
    tokenizer.padding_side = "left"
    return tokenizer


def build_processor(tokenizer, arch: str = "qwen2_5_vl"):
    """The architecture's processor around ``tokenizer`` with the tiny pixel bounds (``pixel_bounds``)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, Qwen3VLProcessor
    from transformers import Qwen3VLVideoProcessor

    min_pixels, max_pixels = pixel_bounds(arch)
    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    geometry = dict(size=size, patch_size=PATCH_SIZES[arch], merge_size=MERGE_SIZE)
    if arch == "qwen2_5_vl":
        image_processor = Qwen2VLImageProcessor(**geometry)
        processor_cls, video_processor = Qwen2_5_VLProcessor, Qwen2VLVideoProcessor(**geometry)
    else:  # Qwen3-VL normalises to [-1, 1] (mean = std = 0.5), as its published preprocessor config
        image_processor = Qwen2VLImageProcessor(**geometry, image_mean=[0.5] * 3, image_std=[0.5] * 3)
        processor_cls, video_processor = Qwen3VLProcessor, Qwen3VLVideoProcessor(**geometry)
    return processor_cls(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor, chat_template=CHAT_TEMPLATE
    )


# Widths: "tiny" (~0.25M parameters, the main job and the tests); "tiny_wide_vision" (the tiny language model
# with a 128-wide vision tower, Qwen2.5-VL only: at width 32 the vision tower does not learn to tell the
# compose task's small shapes apart, at 128 it does, docs/study_exploration.md); "small" (~15M, Qwen2.5-VL
# only, for the cost benchmark: on a CPU its forwards dominate a step, as a 3B/7B model's do on GPUs).
SIZES = {
    "tiny": {"text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2),
             "vision": dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2), "mrope": [2, 3, 3]},
    "tiny_wide_vision": {"text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2),
                         "vision": dict(depth=2, hidden_size=128, intermediate_size=256, num_heads=4), "mrope": [2, 3, 3]},
    "small": {"text": dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
                          num_key_value_heads=2),
              "vision": dict(depth=4, hidden_size=192, intermediate_size=768, num_heads=3), "mrope": [8, 12, 12]},
}


def _text_config(tokenizer, ids: dict[str, int], rope_parameters: dict, size: str = "tiny", **extra) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        **SIZES[size]["text"],
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, **rope_parameters},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        **extra,
    )


def _vision_config(arch: str, size: str = "tiny", **extra) -> dict:
    return dict(**SIZES[size]["vision"], patch_size=PATCH_SIZES[arch], spatial_merge_size=MERGE_SIZE,
                temporal_patch_size=2, out_hidden_size=SIZES[size]["text"]["hidden_size"], **extra)


def build_model(tokenizer, seed: int = 0, arch: str = "qwen2_5_vl", size: str = "tiny"):
    """A ``Qwen2_5_VLForConditionalGeneration`` or ``Qwen3VLForConditionalGeneration`` of one of ``SIZES``
    (~0.25M parameters "tiny", ~15M "small"), random weights seeded by ``seed``."""
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen3VLConfig
    from transformers import Qwen3VLForConditionalGeneration

    _check_arch(arch)
    if size not in SIZES or (size != "tiny" and arch != "qwen2_5_vl"):
        others = sorted(set(SIZES) - {"tiny"})
        raise ValueError(f"size {size!r} is not built for {arch}; sizes: tiny (both architectures), {', '.join(others)} (qwen2_5_vl)")
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    if arch == "qwen2_5_vl":
        config_cls, model_cls = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        text_config = _text_config(tokenizer, ids, {"mrope_section": SIZES[size]["mrope"]}, size)
        vision_config = _vision_config(arch, size, window_size=56, fullatt_block_indexes=[1])
    else:
        # head_dim 16 → 8 rotary pairs, interleaved over (t, h, w) as Qwen3-VL does; a 8×8 grid of learned
        # position embeddings (bilinearly interpolated to any image grid); one DeepStack merger (after
        # vision block 0) adds its features to the first decoder layer's image tokens.
        config_cls, model_cls = Qwen3VLConfig, Qwen3VLForConditionalGeneration
        text_config = _text_config(tokenizer, ids, {"mrope_section": [4, 2, 2], "mrope_interleaved": True}, head_dim=16)
        vision_config = _vision_config(arch, num_position_embeddings=64, deepstack_visual_indexes=[0])
    config = config_cls(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config = GenerationConfig(
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"]
    )
    return model.float()


def build(out_dir: str, seed: int = 0, warm_start_data: str | None = None, warm_start_steps: int = 150,
          arch: str = "qwen2_5_vl", size: str = "tiny", task: str = "shapes", vision_steps: int = 0,
          warm_start_lr: float = 3e-3) -> dict:
    """Write model, tokenizer and processor to ``out_dir`` (a regular HF folder, loadable offline); the
    tokenizer is trained on the text of the synthetic ``task``. With ``warm_start_data``: ``vision_steps`` of
    ``pretrain_vision``, then ``warm_start_steps`` supervised steps at ``warm_start_lr``."""
    tokenizer = build_tokenizer(task=task)
    processor = build_processor(tokenizer, arch)
    model = build_model(tokenizer, seed=seed, arch=arch, size=size)
    report = {"arch": arch, "size": size, "parameters": sum(p.numel() for p in model.parameters()),
              "vocab_size": len(tokenizer), "seed": seed, "task": task}
    if warm_start_data:
        from recipe.vogue.cpu.warm_start import pretrain_vision, warm_start

        if vision_steps:
            report["vision_pretraining"] = pretrain_vision(model, processor, warm_start_data, steps=vision_steps, seed=seed)
        report["warm_start"] = warm_start(model, processor, warm_start_data, steps=warm_start_steps, lr=warm_start_lr, seed=seed)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "tiny_build.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def main(argv: list[str] | None = None) -> int:
    from data_prep import synthetic

    parser = argparse.ArgumentParser(prog="python -m recipe.vogue.cpu.tiny", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build the tiny model, tokenizer and processor")
    build_cmd.add_argument("--out", required=True)
    build_cmd.add_argument("--arch", choices=ARCHITECTURES, default="qwen2_5_vl")
    build_cmd.add_argument("--size", choices=sorted(SIZES), default="tiny")
    build_cmd.add_argument("--seed", type=int, default=0)
    build_cmd.add_argument("--warm-start-data", default=None, help="train parquet of the synthetic task")
    build_cmd.add_argument("--warm-start-steps", type=int, default=150)
    build_cmd.add_argument("--warm-start-lr", type=float, default=3e-3)
    build_cmd.add_argument("--vision-steps", type=int, default=0,
                           help="steps of vision-tower pre-training on the answer's words before the warm start")
    build_cmd.add_argument("--task", default="shapes", choices=sorted(synthetic.TASKS),
                           help="the synthetic task whose text trains the tokenizer (python -m data_prep synthetic --task)")
    args = parser.parse_args(argv)
    report = build(args.out, seed=args.seed, warm_start_data=args.warm_start_data, warm_start_steps=args.warm_start_steps,
                   arch=args.arch, size=args.size, task=args.task, vision_steps=args.vision_steps,
                   warm_start_lr=args.warm_start_lr)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
