#!/usr/bin/env bash
# Shared by every launcher (sourced). Paths and sizes come from the environment, e.g.
#   MODEL_PATH=/models/Qwen2.5-VL-7B-Instruct TRAIN_FILES=/data/mmrl30k_train.parquet bash examples/run_vogue_qwen2_5_vl_7b.sh
# PRINT_OVERRIDES=1 prints the hydra overrides (one per line) instead of training.
# Values: METHOD.md §6 (paper) and verl's examples/grpo_trainer/run_qwen2_5_vl_7b_fsdp.sh.

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=${DATA_DIR:-$HOME/data/vogue}
# Prepared with `python -m data_prep mmrl30k ...` / `python -m data_prep mix ...` (see README).
TRAIN_FILES=${TRAIN_FILES:-$DATA_DIR/mmrl30k_train.parquet}
VAL_FILES=${VAL_FILES:-$DATA_DIR/val_mix.parquet}
VOGUE_REWARD_FN=${VOGUE_REWARD_FN:-$REPO_DIR/vogue_reward/verl_entry.py}
CKPT_ROOT=${CKPT_ROOT:-$REPO_DIR/checkpoints}
NNODES=${NNODES:-1}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
ROLLOUT_NAME=${ROLLOUT_NAME:-vllm}
# Paper: 256 prompts per step (the released scripts use 512), 128 per mini-batch, 200 steps.
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-256}
MINI_BATCH_SIZE=${MINI_BATCH_SIZE:-128}
TOTAL_STEPS=${TOTAL_STEPS:-200}
PROJECT_NAME=${PROJECT_NAME:-vogue}
LOGGER=${LOGGER:-'[console,wandb]'}
PYTHON=${PYTHON:-python3}

# vogue_launch EXPERIMENT MODEL_PATH ROLLOUT_TP [override ...]
vogue_launch() {
    local experiment=$1 model_path=$2 rollout_tp=$3
    shift 3
    local overrides=(
        algorithm.adv_estimator=grpo
        "data.train_files=$TRAIN_FILES"
        "data.val_files=$VAL_FILES"
        "data.train_batch_size=$TRAIN_BATCH_SIZE"
        data.max_prompt_length=1024
        data.max_response_length=2048
        data.filter_overlong_prompts=True
        data.truncation=error
        data.image_key=images
        "actor_rollout_ref.model.path=$model_path"
        actor_rollout_ref.model.use_remove_padding=True
        actor_rollout_ref.model.enable_gradient_checkpointing=True
        actor_rollout_ref.actor.strategy=fsdp2
        actor_rollout_ref.ref.strategy=fsdp2
        actor_rollout_ref.actor.optim.lr=1e-6
        actor_rollout_ref.actor.optim.weight_decay=0.01
        "actor_rollout_ref.actor.ppo_mini_batch_size=$MINI_BATCH_SIZE"
        actor_rollout_ref.actor.use_dynamic_bsz=True
        actor_rollout_ref.actor.ppo_max_token_len_per_gpu=24576
        actor_rollout_ref.actor.entropy_from_logits_with_chunking=True
        "actor_rollout_ref.rollout.name=$ROLLOUT_NAME"
        "actor_rollout_ref.rollout.tensor_model_parallel_size=$rollout_tp"
        actor_rollout_ref.rollout.gpu_memory_utilization=0.6
        actor_rollout_ref.rollout.n=5
        actor_rollout_ref.rollout.temperature=1.0
        actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True
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
        "$@"
    )
    if [[ ${PRINT_OVERRIDES:-0} == 1 ]]; then
        printf '%s\n' "${overrides[@]}"
        return 0
    fi
    cd "$REPO_DIR" && "$PYTHON" -m recipe.vogue.main_vogue "${overrides[@]}"
}
