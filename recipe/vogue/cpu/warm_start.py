"""Supervised warm start of the tiny model on the synthetic task (teacher forcing, loss on the answer).

A randomly initialised policy never writes ``<think>…</think>\\boxed{…}`` and so never earns a reward:
GRPO would see all-zero groups and learn nothing. A short supervised phase on reference answers
("<think>The red shape.</think>\\boxed{red}") teaches the format and some of the task; it is kept short
on purpose so that the policy starts above chance but far from perfect, leaving RL something to learn.
"""

from __future__ import annotations

import io
import random

import pandas as pd
import torch
from PIL import Image

__all__ = ["reference_response", "load_examples", "encode", "warm_start", "greedy_accuracy"]


def reference_response(answer: str) -> str:
    return f"<think>The {answer} shape.</think>\\boxed{{{answer}}}"


def _messages(prompt: list[dict]) -> list[dict]:
    """verl's ``<image>`` placeholders → chat-template image entries (as RLHFDataset does)."""
    content = []
    for position, text in enumerate(prompt[0]["content"].split("<image>")):
        if position:
            content.append({"type": "image"})
        if text:
            content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def load_examples(path: str) -> list[tuple[str, list[Image.Image], str]]:
    frame = pd.read_parquet(path)
    examples = []
    for _, row in frame.iterrows():
        images = [Image.open(io.BytesIO(image["bytes"])).convert("RGB") for image in row["images"]]
        examples.append((row["prompt"], images, row["reward_model"]["ground_truth"]))
    return examples


def encode(processor, examples, with_answer: bool):
    tokenizer = processor.tokenizer
    prompts = [processor.apply_chat_template(_messages(list(p)), add_generation_prompt=True, tokenize=False) for p, _, _ in examples]
    answers = [reference_response(a) + tokenizer.eos_token if with_answer else "" for _, _, a in examples]
    images = [image for _, imgs, _ in examples for image in imgs]
    tokenizer.padding_side = "left"
    batch = processor(text=[p + a for p, a in zip(prompts, answers)], images=images, return_tensors="pt", padding=True)
    if with_answer:
        answer_lengths = [len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
        labels = torch.full_like(batch["input_ids"], -100)
        for row, length in enumerate(answer_lengths):
            labels[row, -length:] = batch["input_ids"][row, -length:]
        batch["labels"] = labels
    return batch


def warm_start(model, processor, data_path: str, steps: int = 150, batch_size: int = 16, lr: float = 3e-3, seed: int = 0) -> dict:
    """Fine-tune ``model`` in place for ``steps`` AdamW steps on ``data_path``; returns a short report."""
    examples = load_examples(data_path)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        batch = encode(processor, rng.sample(examples, min(batch_size, len(examples))), with_answer=True)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return {"steps": steps, "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}


@torch.no_grad()
def greedy_accuracy(model, processor, data_path: str, max_new_tokens: int = 24) -> float:
    """Fraction of rows whose greedy answer contains the reference ``\\boxed{answer}``."""
    examples = load_examples(data_path)
    batch = encode(processor, examples, with_answer=False)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    texts = processor.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(f"\\boxed{{{answer}}}" in text for text, (_, _, answer) in zip(texts, examples)) / len(examples)
