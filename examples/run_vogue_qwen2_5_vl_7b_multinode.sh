#!/usr/bin/env bash
# VOGUE 7B on several nodes. Start a Ray cluster first (head: `ray start --head`; workers:
# `ray start --address=HEAD_IP:6379`), then run this on the head node; NNODES nodes × N_GPUS_PER_NODE GPUs.
# verl joins the running cluster (ray.init() finds it through RAY_ADDRESS or the local head).
set -euo pipefail
export NNODES=${NNODES:-2}
export RAY_ADDRESS=${RAY_ADDRESS:-auto}
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_qwen2_5_vl_7b_${NNODES}nodes}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    vogue=paper "$@"
