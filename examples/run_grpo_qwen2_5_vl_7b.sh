#!/usr/bin/env bash
# The GRPO baseline on Qwen2.5-VL-7B-Instruct: the same trainer and settings with vogue.enable=false. Table 1 "+ GRPO", 7B.
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-grpo_qwen2_5_vl_7b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    vogue.enable=false "$@"
