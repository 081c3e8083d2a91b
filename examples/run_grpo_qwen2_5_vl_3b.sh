#!/usr/bin/env bash
# The GRPO baseline on Qwen2.5-VL-3B-Instruct (vogue.enable=false). Table 1 "+ GRPO", 3B.
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-grpo_qwen2_5_vl_3b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct}" 1 \
    vogue.enable=false "$@"
