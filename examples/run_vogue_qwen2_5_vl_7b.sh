#!/usr/bin/env bash
# VOGUE (paper preset) on Qwen2.5-VL-7B-Instruct, 8 GPUs, FSDP2 + vLLM (rollout TP 2). Table 1 "+ VOGUE/DUPL", 7B.
# Extra arguments are hydra overrides, e.g. `vogue=authors_code` or `vogue.perturbation.sigma=0.8`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_qwen2_5_vl_7b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    vogue=paper "$@"
