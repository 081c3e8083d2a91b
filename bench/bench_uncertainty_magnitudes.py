"""How big are the released code's surrogates next to the paper's exact quantities? (docs/reproducing.md "Magnitudes")

    .venv/bin/python bench/bench_uncertainty_magnitudes.py [--work-dir runs/tiny] [--prompts 64] [--seed 0]

On the warm-started tiny model and the synthetic task (built if missing): sample one response per
validation prompt from the raw image (T = 1), teacher-force it under the raw image and under a
perturbed copy (each preset's perturbation), and compare, over all response tokens:
- u_per: the released code's ``dupl_code`` surrogate on the sampled token vs the exact full-vocabulary
  symmetric KL (and the unbiased ``sampled`` estimator, whose mean should approach the exact one);
- u_out: the sampled-token entropy −p(o_t)·log p(o_t) vs the full-vocabulary entropy.
Prints the ratios of the means (measured in one run).
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipe.vogue.cpu import tiny_run  # noqa: E402
from recipe.vogue.core.perturb import PerturbationSpec, perturb_image  # noqa: E402
from recipe.vogue.core.uncertainty import (  # noqa: E402
    entropy_from_logits,
    sampled_token_entropy,
    symmetric_kl_from_logits,
    symmetric_kl_from_sampled,
)
from recipe.vogue.cpu.warm_start import encode, load_examples  # noqa: E402

PRESETS = {"paper (σ = 0.4)": PerturbationSpec(), "authors_code (σ = 0.2)": PerturbationSpec(
    sigma=0.2, rotate_interpolation="nearest", jitter_order="random", noise_quantize="floor", images="first")}


def response_logits(model, batch, responses):
    """Logits predicting each response token, [B, R, V], for prompt batch + appended response ids."""
    width = batch["input_ids"].shape[1]
    inputs = {
        **batch,
        "input_ids": torch.cat([batch["input_ids"], responses], 1),
        "attention_mask": torch.cat([batch["attention_mask"], torch.ones_like(responses)], 1),
        "mm_token_type_ids": torch.cat([batch["mm_token_type_ids"], torch.zeros_like(responses)], 1),
    }
    return model(**inputs).logits[:, width - 1 : -1].float()


@torch.no_grad()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=os.path.join(tiny_run.REPO_ROOT, "runs", "tiny"))
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    data_dir, model_dir = tiny_run.ensure_assets(os.path.abspath(args.work_dir), args.seed)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    examples = load_examples(os.path.join(data_dir, "val.parquet"))[: args.prompts]
    batch = encode(processor, examples, with_answer=False)
    torch.manual_seed(args.seed)
    generated = model.generate(**batch, max_new_tokens=24, do_sample=True, temperature=1.0, top_k=0)
    responses = generated[:, batch["input_ids"].shape[1] :]
    mask = torch.cumprod(responses != processor.tokenizer.eos_token_id, 1).bool()  # up to (excluding) EOS
    raw_logits = response_logits(model, batch, responses)
    raw_log_p = torch.log_softmax(raw_logits, -1).gather(-1, responses[..., None]).squeeze(-1)
    full_entropy = entropy_from_logits(raw_logits)[mask]
    token_entropy = sampled_token_entropy(raw_log_p)[mask]
    print(f"tiny model, {len(examples)} prompts, {int(mask.sum())} response tokens (one sample each, T = 1)")
    print(f"u_out: mean full entropy {full_entropy.mean():.4f}, mean sampled-token entropy {token_entropy.mean():.4f}"
          f" -> ratio {token_entropy.mean() / full_entropy.mean():.3f}")
    for name, spec in PRESETS.items():
        perturbed = [(prompt, [perturb_image(image, spec, args.seed * 1000 + i) for image in images], answer)
                     for i, (prompt, images, answer) in enumerate(examples)]
        noisy_batch = encode(processor, perturbed, with_answer=False)
        assert torch.equal(noisy_batch["image_grid_thw"], batch["image_grid_thw"])
        noisy_logits = response_logits(model, noisy_batch, responses)
        noisy_log_p = torch.log_softmax(noisy_logits, -1).gather(-1, responses[..., None]).squeeze(-1)
        exact = symmetric_kl_from_logits(raw_logits, noisy_logits)[mask]
        dupl = symmetric_kl_from_sampled(raw_log_p, noisy_log_p, "dupl_code")[mask]
        sampled = symmetric_kl_from_sampled(raw_log_p, noisy_log_p, "sampled")[mask]
        print(f"u_per, {name}: exact symmetric KL {exact.mean():.5f}, dupl_code {dupl.mean():.5f} "
              f"(ratio {dupl.mean() / exact.mean():.3f}), unbiased sampled {sampled.mean():.5f} "
              f"(ratio {sampled.mean() / exact.mean():.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
