#!/usr/bin/env bash
# Shared by every launcher (sourced). Paths and sizes come from the environment, e.g.
#   MODEL_PATH=/models/Qwen2.5-VL-7B-Instruct TRAIN_FILES=/data/mmrl30k_train.parquet bash examples/run_vogue_qwen2_5_vl_7b.sh
# PRINT_OVERRIDES=1 prints the hydra overrides (one per line) instead of training. Every launch first
# runs the preflight (python -m recipe.vogue.preflight, docs/cluster.md) with the same
# overrides and stops on an ERROR; SKIP_PREFLIGHT=1 skips it, PREFLIGHT_ARGS passes options to it.
# Values: METHOD.md §6 (paper) and verl's examples/grpo_trainer/run_qwen2_5_vl_7b_fsdp.sh.

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=${DATA_DIR:-$HOME/data/vogue}
# Prepared with `python -m data_prep mmrl30k ...` / `python -m data_prep mix ... --per-source-limit 200`
# (see docs/cluster.md): periodic validation runs on a capped mix of the six benchmarks; the full sets are for
# `python -m recipe.vogue.evaluate`.
TRAIN_FILES=${TRAIN_FILES:-$DATA_DIR/mmrl30k_train.parquet}
VAL_FILES=${VAL_FILES:-$DATA_DIR/val_mix.parquet}
# An installed module, not a file path: every Ray node imports it from its own installation.
VOGUE_REWARD_FN=${VOGUE_REWARD_FN:-pkg://vogue_reward.verl_entry}
CKPT_ROOT=${CKPT_ROOT:-$REPO_DIR/checkpoints}
NNODES=${NNODES:-1}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
ROLLOUT_NAME=${ROLLOUT_NAME:-vllm}
# Paper: 256 prompts per step (the released scripts use 512), 128 per mini-batch, 200 steps.
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-256}
MINI_BATCH_SIZE=${MINI_BATCH_SIZE:-128}
TOTAL_STEPS=${TOTAL_STEPS:-200}
# Rollouts per prompt (METHOD.md §6: 5). NoisyRollout's launchers use 2n = 10; ROLLOUT_N=10 with the GRPO
# launchers is the matching GRPO baseline.
ROLLOUT_N=${ROLLOUT_N:-5}
VAL_BATCH_SIZE=${VAL_BATCH_SIZE:-256}
# Per-image pixel limits (docs/cluster.md): min = the released code's 512²; max =
# 1,254,400 = 1,600 image tokens of 28×28, so one image at the cap plus ~450 text tokens fits
# MAX_PROMPT_LENGTH=2048 (the released code's prompt budget; its 4,194,304-pixel cap is 5,350 tokens,
# more than its own budget). The preflight reports every row that still does not fit.
MIN_PIXELS=${MIN_PIXELS:-262144}
MAX_PIXELS=${MAX_PIXELS:-1254400}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-2048}
# Token budget of the log-prob stage while it has probed rows: a probed micro-batch holds (1 + ½)·T·V logits
# (the raw ones at the probed rows' response positions while the paired forward runs), 10.4 GiB at verl's
# 24,576 tokens and V = 152k in bf16. The preflight prints the budget that fits half of what a GPU has left
# after the FSDP shards: at 8 ranks × 80 GB, > 60k tokens for every committed model, so the stage keeps
# verl's own log-prob micro-batches. Lower it on smaller GPUs or fewer ranks (the preflight says how far).
PAIRED_MAX_TOKENS=${PAIRED_MAX_TOKENS:-24576}
FILTER_WORKERS=${FILTER_WORKERS:-16}
MAX_CKPT_TO_KEEP=${MAX_CKPT_TO_KEEP:-2}
PROJECT_NAME=${PROJECT_NAME:-vogue}
# No backend that needs credentials by default: `file` writes the metrics as jsonl (see VERL_FILE_LOGGER_PATH).
LOGGER=${LOGGER:-'[console,file]'}
PYTHON=${PYTHON:-python3}
# LoRA (docs/cluster.md "LoRA"; the run_*_lora_*.sh launchers set LORA_RANK=64): adapters of rank LORA_RANK and
# scale LORA_ALPHA on every linear layer of the language model (peft's all-linear), none on the vision tower,
# merged into the weights the rollout receives at each sync (lora.merge=True: what the CPU backend tests).
# Settings of verl's Qwen2.5-VL-7B LoRA example (examples/grpo_trainer/run_qwen2_5_vl-7b_lora.sh: rank 64,
# alpha 32, lr 3e-6, exclude_modules='.*visual.*'); ACTOR_LR overrides the learning rate either way.
# Attention (docs/install.md "Without flash-attn"): ATTN=flash_attention_2 (default) runs verl's padding-free
# path, which needs flash-attn; ATTN=sdpa runs PyTorch's SDPA on padded micro-batches (use_remove_padding=False),
# for nodes where flash-attn does not build or import. Activations then scale with rows × the longest sequence
# of each micro-batch instead of the sum of lengths.
ATTN=${ATTN:-flash_attention_2}
case $ATTN in
    flash_attention_2) ATTENTION=(actor_rollout_ref.model.use_remove_padding=True) ;;
    sdpa) ATTENTION=(actor_rollout_ref.model.use_remove_padding=False
                     +actor_rollout_ref.model.override_config.attn_implementation=sdpa) ;;
    *) echo "ATTN must be flash_attention_2 or sdpa, got '$ATTN'" >&2; exit 2 ;;
esac
LORA_RANK=${LORA_RANK:-0}
LORA_ALPHA=${LORA_ALPHA:-32}
if (( LORA_RANK > 0 )); then
    ACTOR_LR=${ACTOR_LR:-3e-6}
else
    ACTOR_LR=${ACTOR_LR:-1e-6}
fi

# baseline_overrides NAME: sets BASELINE to the overrides of an exploration baseline (docs/reproducing.md
# "Exploration baselines": each is one verl setting, with the settings of the paper that proposed it).
baseline_overrides() {
    case $1 in
        # Clip-Cov (arXiv 2505.22617, its 7B script): no PPO clip, the 0.02 % highest-covariance tokens
        # with covariance in [1, 5] drop out of the gradient
        clip_cov) BASELINE=(vogue.enable=false actor_rollout_ref.actor.policy_loss.loss_mode=clip_cov
                            actor_rollout_ref.actor.policy_loss.clip_cov_ratio=0.0002
                            actor_rollout_ref.actor.policy_loss.clip_cov_lb=1.0
                            actor_rollout_ref.actor.policy_loss.clip_cov_ub=5.0
                            actor_rollout_ref.actor.clip_ratio_low=1 actor_rollout_ref.actor.clip_ratio_high=1) ;;
        # KL-Cov (same paper, 7B): a KL penalty (coefficient 1) on the 0.2 % highest-covariance tokens, clip 0.2
        kl_cov) BASELINE=(vogue.enable=false actor_rollout_ref.actor.policy_loss.loss_mode=kl_cov
                          actor_rollout_ref.actor.policy_loss.kl_cov_ratio=0.002
                          actor_rollout_ref.actor.policy_loss.ppo_kl_coef=1.0
                          actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.2) ;;
        # pass@k advantages (verl's grpo_passk, arXiv 2503.19595): only a group's best response gets r_max − r_2nd
        passk) BASELINE=(vogue.enable=false algorithm.adv_estimator=grpo_passk) ;;
        # entropy-based advantage shaping (arXiv 2506.14758): A + min(0.4·H, |A|/2), VOGUE's u_out term alone
        # (no paired forward: p = 0 draws no row into the noisy branch)
        entropy_adv) BASELINE=(vogue=paper vogue.alpha_per=0 vogue.schedule.type=fixed vogue.schedule.fixed=0) ;;
        # GRPO with twice the rollouts (NoisyRollout's sample budget)
        grpo_2n) BASELINE=(vogue.enable=false "actor_rollout_ref.rollout.n=$((2 * ROLLOUT_N))") ;;
        *) return 2 ;;
    esac
}

# baseline_launch SIZE MODEL_PATH ROLLOUT_TP BASELINE [override ...] (run_baseline_*.sh)
baseline_launch() {
    local size=$1 model_path=$2 rollout_tp=$3 name=${4:-}
    if ! baseline_overrides "$name"; then
        echo "usage: $0 clip_cov|kl_cov|passk|entropy_adv|grpo_2n [override ...]" >&2
        return 2
    fi
    shift 4
    vogue_launch "${EXPERIMENT:-baseline_${name}_qwen2_5_vl_$size}" "$model_path" "$rollout_tp" "${BASELINE[@]}" "$@"
}

# vogue_launch EXPERIMENT MODEL_PATH ROLLOUT_TP [override ...]
vogue_launch() {
    local experiment=$1 model_path=$2 rollout_tp=$3
    shift 3
    local overrides=(
        algorithm.adv_estimator=grpo
        "data.train_files=$TRAIN_FILES"
        "data.val_files=$VAL_FILES"
        "data.train_batch_size=$TRAIN_BATCH_SIZE"
        "data.val_batch_size=$VAL_BATCH_SIZE"
        "data.max_prompt_length=$MAX_PROMPT_LENGTH"
        data.max_response_length=2048
        "data.image_min_pixels=$MIN_PIXELS"
        "data.image_max_pixels=$MAX_PIXELS"
        data.filter_overlong_prompts=True
        "data.filter_overlong_prompts_workers=$FILTER_WORKERS"
        data.truncation=error
        data.image_key=images
        "actor_rollout_ref.model.path=$model_path"
        "${ATTENTION[@]}"
        actor_rollout_ref.model.enable_gradient_checkpointing=True
        actor_rollout_ref.actor.strategy=fsdp2
        actor_rollout_ref.ref.strategy=fsdp2
        "actor_rollout_ref.actor.optim.lr=$ACTOR_LR"
        actor_rollout_ref.actor.optim.weight_decay=0.01
        "actor_rollout_ref.actor.ppo_mini_batch_size=$MINI_BATCH_SIZE"
        actor_rollout_ref.actor.use_dynamic_bsz=True
        actor_rollout_ref.actor.ppo_max_token_len_per_gpu=24576
        actor_rollout_ref.actor.entropy_from_logits_with_chunking=True
        "actor_rollout_ref.rollout.name=$ROLLOUT_NAME"
        "actor_rollout_ref.rollout.tensor_model_parallel_size=$rollout_tp"
        actor_rollout_ref.rollout.gpu_memory_utilization=0.6
        "actor_rollout_ref.rollout.n=$ROLLOUT_N"
        actor_rollout_ref.rollout.temperature=1.0
        actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True
        "vogue.paired_max_token_len_per_gpu=$PAIRED_MAX_TOKENS"
        "reward.custom_reward_function.path=$VOGUE_REWARD_FN"
        reward.custom_reward_function.name=compute_score
        trainer.use_v1=False
        "trainer.logger=$LOGGER"
        "trainer.project_name=$PROJECT_NAME"
        "trainer.experiment_name=$experiment"
        "trainer.default_local_dir=$CKPT_ROOT/$experiment"
        "trainer.n_gpus_per_node=$N_GPUS_PER_NODE"
        "trainer.nnodes=$NNODES"
        "trainer.total_training_steps=$TOTAL_STEPS"
        trainer.total_epochs=100
        trainer.test_freq=5
        trainer.save_freq=20
        "trainer.max_actor_ckpt_to_keep=$MAX_CKPT_TO_KEEP"
    )
    if (( LORA_RANK > 0 )); then
        overrides+=(
            "actor_rollout_ref.model.lora_rank=$LORA_RANK"
            "actor_rollout_ref.model.lora_alpha=$LORA_ALPHA"
            actor_rollout_ref.model.target_modules=all-linear
            "actor_rollout_ref.model.exclude_modules='.*visual.*'"
            actor_rollout_ref.model.lora.merge=True
        )
    fi
    overrides+=("$@")
    if [[ ${PRINT_OVERRIDES:-0} == 1 ]]; then
        printf '%s\n' "${overrides[@]}"
        return 0
    fi
    cd "$REPO_DIR"
    if [[ ${SKIP_PREFLIGHT:-0} != 1 ]]; then
        # shellcheck disable=SC2086  # PREFLIGHT_ARGS is a list of options
        "$PYTHON" -m recipe.vogue.preflight ${PREFLIGHT_ARGS:-} "${overrides[@]}" || {
            echo "preflight found an ERROR (table above); fix it or set SKIP_PREFLIGHT=1" >&2
            return 1
        }
    fi
    # One metrics file per launch, so a resumed run does not overwrite the earlier one. On a Ray cluster the
    # trainer runs with the Ray job's environment, not this shell's: the path goes there too (`++` adds the key
    # verl's config lacks), and the trainer creates its directory on the node it runs on.
    export VERL_FILE_LOGGER_PATH=${VERL_FILE_LOGGER_PATH:-$CKPT_ROOT/$experiment/metrics/$(date +%Y%m%d-%H%M%S).jsonl}
    mkdir -p "$(dirname "$VERL_FILE_LOGGER_PATH")"
    "$PYTHON" -m recipe.vogue.main_vogue "${overrides[@]}" \
        "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH=$VERL_FILE_LOGGER_PATH"
}
