"""Supervised warm start of the tiny model on the synthetic task (teacher forcing, loss on the answer).

A randomly initialised policy never writes ``<think>…</think>\\boxed{…}`` and so never earns a reward:
GRPO would see all-zero groups and learn nothing. A short supervised phase on reference answers
("<think>The red shape.</think>\\boxed{red}") teaches the format and some of the task; it is kept short
on purpose so that the policy starts above chance but far from perfect, leaving RL something to learn.

Trained end to end from random weights, the tiny model learns the answers' marginal and never looks at
small objects (on ``compose`` it gives one answer for every image, whatever the steps or learning rate);
``pretrain_vision`` first trains the vision tower alone to name each word of the answer from its mean
image feature, after which the supervised phase reads the image (docs/study_exploration.md, the pilots).
"""

from __future__ import annotations

import io
import random

import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["reference_response", "load_examples", "encode", "answer_word_labels", "pretrain_vision", "warm_start",
           "greedy_accuracy"]


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


def answer_word_labels(answers: list[str]) -> tuple[list[list[str]], torch.Tensor]:
    """The words seen at each position of the answers (sorted) and each answer's class per position:
    ``["2 red circle", "1 blue square"]`` → ``([["1", "2"], ["blue", "red"], ["circle", "square"]], [[1, 1, 0], [0, 0, 1]])``.
    Every answer must have the same number of words."""
    words = [answer.split() for answer in answers]
    if len({len(w) for w in words}) != 1:
        raise ValueError(f"pretrain_vision needs answers of one word count; got counts {sorted({len(w) for w in words})}")
    vocab = [sorted({w[position] for w in words}) for position in range(len(words[0]))]
    return vocab, torch.tensor([[vocab[p].index(word) for p, word in enumerate(w)] for w in words])


def pretrain_vision(model, processor, data_path: str, steps: int, batch_size: int = 16, lr: float = 1e-3, seed: int = 0) -> dict:
    """Train ``model``'s vision tower in place: one linear head per answer word reads the row's mean vision
    feature (over all its images' tokens), loss = Σ over words of the cross-entropy. The heads are discarded;
    the language model is untouched."""
    examples = load_examples(data_path)
    vocab, classes = answer_word_labels([answer for _, _, answer in examples])
    rng = random.Random(seed)
    torch.manual_seed(seed)
    visual = model.model.visual
    heads = torch.nn.ModuleList(torch.nn.Linear(model.config.text_config.hidden_size, len(words)) for words in vocab)

    def step_loss() -> torch.Tensor:
        rows = rng.sample(range(len(examples)), min(batch_size, len(examples)))
        images = [examples[row][1] for row in rows]
        inputs = processor.image_processor(images=[image for row_images in images for image in row_images], return_tensors="pt")
        features = iter(model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output)
        pooled = torch.stack([torch.cat([next(features) for _ in row_images]).mean(0) for row_images in images])
        return sum(F.cross_entropy(head(pooled), classes[rows, position]) for position, head in enumerate(heads))

    visual.train()
    report = _optimise(step_loss, [*visual.parameters(), *heads.parameters()], steps, lr)
    visual.eval()
    return report


def _optimise(step_loss, parameters, steps: int, lr: float) -> dict:
    """``steps`` AdamW steps (no weight decay) on ``step_loss()``; the first and last losses."""
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        loss = step_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {"steps": steps, "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}


def warm_start(model, processor, data_path: str, steps: int = 150, batch_size: int = 16, lr: float = 3e-3, seed: int = 0) -> dict:
    """Fine-tune ``model`` in place for ``steps`` AdamW steps on ``data_path``; returns a short report."""
    examples = load_examples(data_path)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model.train()
    report = _optimise(lambda: model(**encode(processor, rng.sample(examples, min(batch_size, len(examples))), with_answer=True)).loss,
                       model.parameters(), steps, lr)
    model.eval()
    return report


@torch.no_grad()
def greedy_accuracy(model, processor, data_path: str, max_new_tokens: int = 24) -> float:
    """Fraction of rows whose greedy answer contains the reference ``\\boxed{answer}``."""
    examples = load_examples(data_path)
    batch = encode(processor, examples, with_answer=False)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    texts = processor.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(f"\\boxed{{{answer}}}" in text for text, (_, _, answer) in zip(texts, examples)) / len(examples)
