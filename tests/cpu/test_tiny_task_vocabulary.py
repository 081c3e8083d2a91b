"""The tiny model for the ``compose`` task: its tokenizer is trained on that task's text, its processor
takes the task's 84-px images whole, and the main job's tokenizer is unchanged."""

import random

from data_prep.synthetic import COMPOSE_ANSWERS, COMPOSE_QUESTION, make_compose_example
from recipe.vogue.cpu import tiny
from recipe.vogue.cpu.warm_start import reference_response


def test_the_compose_tokenizer_knows_the_tasks_words():
    shapes, compose = tiny.build_tokenizer(), tiny.build_tokenizer(task="compose")
    for text in (COMPOSE_QUESTION, *(reference_response(answer) for answer in COMPOSE_ANSWERS[:6])):
        assert len(compose.encode(text)) < len(shapes.encode(text))
    assert shapes.get_vocab() == tiny.build_tokenizer(task="shapes").get_vocab()


def test_an_84_px_image_is_nine_image_tokens_without_resizing():
    image = make_compose_example(random.Random(0))[0]
    processor = tiny.build_processor(tiny.build_tokenizer(task="compose"))
    grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0].tolist()
    assert grid == [1, 6, 6]  # 6×6 patches of 14 px = 3×3 merged tokens
