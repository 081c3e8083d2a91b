#!/usr/bin/env bash
# The GRPO baseline on Qwen3-VL-4B-Instruct (vogue.enable=false). Paper v3 Table 16 "+ GRPO", 4B.
# Qwen3-VL's settings as in run_vogue_qwen3_vl_4b.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-grpo_qwen3_vl_4b}" "${MODEL_PATH:-Qwen/Qwen3-VL-4B-Instruct}" 1 \
    data.image_patch_size=16 actor_rollout_ref.rollout.enable_chunked_prefill=False vogue.enable=false "$@"
