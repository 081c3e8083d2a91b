#!/usr/bin/env bash
# VOGUE on DAPO, Qwen2.5-VL-7B-Instruct (paper v3 Table 6, "DAPO + VOGUE/DUPL"; the released dupl_dapo_7b.sh):
# base=dapo as in run_grpo_dapo_qwen2_5_vl_7b.sh, with VOGUE's branch draws and shaping over the kept groups.
# Extra arguments are hydra overrides, e.g. `vogue=authors_code` (the released run's DUPL settings).
set -euo pipefail
source "$(dirname "$0")/common.sh"
vogue_launch "${EXPERIMENT:-vogue_dapo_qwen2_5_vl_7b}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    vogue=paper base=dapo "data.gen_batch_size=${DAPO_GEN_BATCH_SIZE:-$TRAIN_BATCH_SIZE}" "$@"
