#!/usr/bin/env bash
# VOGUE (paper preset) on Qwen2.5-VL-3B-Instruct, 8 GPUs, FSDP2 + vLLM (rollout TP 1). Table 1 "+ VOGUE/DUPL", 3B.
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_qwen2_5_vl_3b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-3B-Instruct}" 1 \
    vogue=paper "$@"
