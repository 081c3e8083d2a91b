#!/usr/bin/env bash
# The paper's 7B ablations: bash examples/run_vogue_ablation_qwen2_5_vl_7b.sh ABLATION [override ...]
# Each changes ONE thing relative to the VOGUE run of the same preset (PRESET=paper, the default, or
# PRESET=authors_code for the released code's run):
#   wo_uper     w/o u_per          (no perceptual bonus: vogue.alpha_per=0)
#   wo_uout     w/o u_out          (no entropy bonus:    vogue.alpha_out=0)
#   wo_both     w/o both           (both bonuses off; with rollout_from=raw this trains exactly like GRPO)
#   forward_kl  Forward KL         (KL(p‖q) instead of the symmetric KL: exact over the vocabulary,
#                                   vogue.kl_estimator=forward_full, under paper; the released code's
#                                   sampled-token surrogate, vogue.kl_estimator=forward, under authors_code)
#   fixed_p     fixed p = 0.5      (no annealing of the noisy-branch probability)
set -euo pipefail
source "$(dirname "$0")/common.sh"
PRESET=${PRESET:-paper}
case $PRESET in
    paper) forward_estimator=forward_full ;;
    authors_code) forward_estimator=forward ;;
    *) echo "PRESET must be paper or authors_code, got '$PRESET'" >&2; exit 2 ;;
esac
case ${1:-} in
    wo_uper) ablation=(vogue.alpha_per=0) ;;
    wo_uout) ablation=(vogue.alpha_out=0) ;;
    wo_both) ablation=(vogue.alpha_per=0 vogue.alpha_out=0) ;;
    forward_kl) ablation=("vogue.kl_estimator=$forward_estimator") ;;
    fixed_p) ablation=(vogue.schedule.type=fixed vogue.schedule.fixed=0.5) ;;
    *) echo "usage: $0 wo_uper|wo_uout|wo_both|forward_kl|fixed_p [override ...]" >&2; exit 2 ;;
esac
name=$1
shift
vogue_launch "${EXPERIMENT:-vogue_qwen2_5_vl_7b_${PRESET}_$name}" "${MODEL_PATH:-Qwen/Qwen2.5-VL-7B-Instruct}" 2 \
    "vogue=$PRESET" "${ablation[@]}" "$@"
