#!/usr/bin/env bash
# VOGUE (paper preset) on Qwen2.5-VL-7B-Instruct with LoRA adapters (rank 64, alpha 32, lr 3e-6, vision tower excluded, merged weights
# synced to the rollout): examples/common.sh "LoRA", docs/cluster.md "LoRA". 8 GPUs, FSDP2 + vLLM (rollout TP 2).
set -euo pipefail
LORA_RANK=${LORA_RANK:-64}
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_lora_qwen2_5_vl_7b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    vogue=paper "$@"
