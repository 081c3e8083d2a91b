#!/usr/bin/env bash
# DAPO on Qwen2.5-VL-7B-Instruct (paper v3 Table 6, "DAPO"; the released dapo_7b.sh): base=dapo = clip-higher
# 0.2/0.28, token-mean, dynamic sampling (groups with 0.01 < mean acc < 0.99, refilled, at most 20 generation
# rounds per step) and DAPO's overlong shaping (512 of the 2048 response tokens; the released scripts have
# none: reward.reward_kwargs.overlong_buffer_cfg.enable=false), no VOGUE shaping.
# DAPO_GEN_BATCH_SIZE over-samples prompts per generation round (default = TRAIN_BATCH_SIZE, as released).
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-grpo_dapo_qwen2_5_vl_7b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    vogue.enable=false base=dapo "data.gen_batch_size=${DAPO_GEN_BATCH_SIZE:-$TRAIN_BATCH_SIZE}" "$@"
