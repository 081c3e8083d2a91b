#!/usr/bin/env bash
# NoisyRollout (arXiv 2504.13055, METHOD.md §7) on Qwen2.5-VL-3B-Instruct: n = 5 clean + 5 noisy rollouts per
# prompt in ONE GRPO group, the noisy ones from diffusion-noised images (t annealed from t0), all updated on
# the clean image, vision tower frozen, no VOGUE shaping. Table 1 "+ NoisyRollout", 3B.
# NOISYROLLOUT_PRESET=k12 (default; t0 450, c 60) or geo3k (t0 500, c 30). The matching GRPO baseline with
# the same 2n = 10 rollouts: ROLLOUT_N=10 bash examples/run_grpo_qwen2_5_vl_3b.sh
set -euo pipefail
export ROLLOUT_N=${ROLLOUT_N:-10}
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-noisyrollout_qwen2_5_vl_3b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct}" 1 \
    vogue.enable=false "noisyrollout=${NOISYROLLOUT_PRESET:-k12}" actor_rollout_ref.actor.freeze_vision_tower=true "$@"
