"""Fixture builders for the data_prep tests: images in every awkward mode, source datasets in every
accepted form, and a tiny offline Qwen2.5-VL tokenizer + processor (nothing is downloaded)."""

from __future__ import annotations

import io
import json
import os

import datasets
import numpy as np
import pyarrow.parquet as pq
from PIL import Image

IMAGE = datasets.Image()
IMAGES = datasets.Sequence(datasets.Image())
STRING = datasets.Value("string")


def encode(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def png(size=(32, 24), colour=(200, 30, 30), mode="RGB") -> dict:
    """An HF Image cell ({bytes, path}) holding a solid-colour PNG."""
    return {"bytes": encode(Image.new(mode, size, colour if mode == "RGB" else 0)), "path": None}


def decode_rows(path: str) -> list[dict]:
    return pq.read_table(path).to_pylist()


def row_image(row: dict, position: int = 0) -> Image.Image:
    image = Image.open(io.BytesIO(row["images"][position]["bytes"]))
    image.load()
    return image


def save_forms(dataset: datasets.Dataset, root: str, split: str, forms: tuple[str, ...]) -> dict[str, str]:
    """Write ``dataset`` as each accepted source form; returns {form: path to pass as --input}.

    disk_dict: save_to_disk of a DatasetDict {split, "other"}; disk: save_to_disk of the Dataset;
    hub: a hub-download folder with ``data/{split}-00000-of-00001.parquet`` next to another split;
    parquet / jsonl / json: a single file.
    """
    paths = {}
    for form in forms:
        target = os.path.join(root, form)
        if form == "disk_dict":
            datasets.DatasetDict({split: dataset, "other": dataset.select([0])}).save_to_disk(target)
        elif form == "disk":
            dataset.save_to_disk(target)
        elif form == "hub":
            dataset.to_parquet(os.path.join(target, "data", f"{split}-00000-of-00001.parquet"))
            dataset.select([0]).to_parquet(os.path.join(target, "data", f"other_{split}-00000-of-00001.parquet"))
        elif form == "parquet":
            target += ".parquet"
            dataset.to_parquet(target)
        elif form in ("jsonl", "json"):
            target += f".{form}"
            records = dataset.to_list()
            with open(target, "w", encoding="utf-8") as handle:
                if form == "jsonl":
                    handle.writelines(json.dumps(record) + "\n" for record in records)
                else:
                    json.dump(records, handle)
        else:
            raise ValueError(form)
        paths[form] = target
    return paths


def image_in_mode(mode: str, size=(16, 12)) -> bytes:
    """PNG/TIFF/JPEG bytes of an image in ``mode`` whose expected RGB rendering is documented per mode."""
    if mode == "CMYK":
        return encode(Image.new("CMYK", size, (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    if mode == "P":
        image = Image.new("P", size, 1)
        image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
        return encode(image)
    if mode == "P_transparent":
        image = Image.new("P", size, 0)
        image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
        image.info["transparency"] = 0
        return encode(image)
    if mode == "RGBA":
        return encode(Image.new("RGBA", size, (0, 0, 0, 0)))  # fully transparent black
    if mode == "I;16":
        return encode(Image.fromarray(np.full(size[::-1], 65535, dtype=np.uint16)))
    if mode == "L":
        return encode(Image.new("L", size, 77))
    raise ValueError(mode)


# ---------------------------------------------------------------------------------------------------
# A tiny offline Qwen2.5-VL tokenizer + processor
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer_and_processor(corpus: list[str]):
    """Byte-level BPE trained on ``corpus`` with Qwen's special tokens, and a Qwen2_5_VLProcessor whose
    image processor keeps images between 28² and 112² pixels (a few image tokens each)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:], chat_template=CHAT_TEMPLATE,
    )
    size = {"shortest_edge": 28 * 28, "longest_edge": 112 * 112}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2),
        video_processor=Qwen2VLVideoProcessor(size=size, patch_size=14, merge_size=2),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    return tokenizer, processor
