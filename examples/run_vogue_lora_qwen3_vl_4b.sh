#!/usr/bin/env bash
# VOGUE (paper preset) on Qwen3-VL-4B-Instruct with LoRA adapters (rank 64, alpha 32, lr 3e-6, vision tower excluded, merged weights
# synced to the rollout): examples/common.sh "LoRA", docs/cluster.md "LoRA". 8 GPUs, FSDP2 + vLLM (rollout TP 1).
set -euo pipefail
LORA_RANK=${LORA_RANK:-64}
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_lora_qwen3_vl_4b}" "${MODEL_PATH:-Qwen/Qwen3-VL-4B-Instruct}" 1 \
    data.image_patch_size=16 actor_rollout_ref.rollout.enable_chunked_prefill=False vogue=paper "$@"
