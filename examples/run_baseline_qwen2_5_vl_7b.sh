#!/usr/bin/env bash
# Exploration baselines on Qwen2.5-VL-7B-Instruct, one flag each (examples/common.sh baseline_overrides;
# docs/reproducing.md "Exploration baselines"): bash examples/run_baseline_qwen2_5_vl_7b.sh BASELINE [override ...]
#   clip_cov     Clip-Cov (arXiv 2505.22617)          kl_cov   KL-Cov (arXiv 2505.22617)
#   passk        pass@k advantages (arXiv 2503.19595)  entropy_adv  entropy advantage shaping (arXiv 2506.14758)
#   grpo_2n      GRPO with 2n rollouts
set -euo pipefail
source "$(dirname "$0")/common.sh"
baseline_launch 7b "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 "$@"
