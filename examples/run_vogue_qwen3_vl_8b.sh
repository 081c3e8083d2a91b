#!/usr/bin/env bash
# VOGUE (paper preset) on Qwen3-VL-8B-Instruct, 8 GPUs, FSDP2 + vLLM (rollout TP 2). Paper v3 Table 16 "+ DUPL", 8B.
# What differs from the Qwen2.5-VL launchers (docs/reproducing.md "Qwen3-VL (Table 16)"): Qwen3-VL's 16-px patches in
# data.image_patch_size (verl defaults to 14; the preflight checks it against the processor) and verl's
# upstream Qwen3-VL example's vLLM setting enable_chunked_prefill=False.
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_qwen3_vl_8b}" "${MODEL_PATH:-Qwen/Qwen3-VL-8B-Instruct}" 2 \
    data.image_patch_size=16 actor_rollout_ref.rollout.enable_chunked_prefill=False vogue=paper "$@"
