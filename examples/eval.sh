#!/usr/bin/env bash
# Evaluate a model or a verl checkpoint on the paper's six benchmarks (METHOD.md §8,
# docs/evaluation.md) on a GPU node: python -m recipe.vogue.evaluate runs verl's own validation in resumable
# shards, a greedy pass (pass@1) and a sampled pass (n = 16, T = 0.6, top-p 0.95: pass@k), then writes
# OUT_DIR/report/. Rerun the same command to resume; extra arguments are hydra overrides for every run.
#   MODEL_PATH=checkpoints/vogue_qwen2_5_vl_7b/global_step_200 OUT_DIR=eval/vogue_7b bash examples/eval.sh
# MODEL_PATH: a Hugging Face model (directory or hub id) or a verl FSDP checkpoint (global_step_N[/actor],
# merged once into OUT_DIR/model). Standalone: the model, image and rollout settings are those of
# examples/common.sh. PRINT_OVERRIDES=1 prints the evaluate arguments (one per line) instead of running.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=${DATA_DIR:-$HOME/data/vogue}
MODEL_PATH=${MODEL_PATH:?set MODEL_PATH to a model directory, hub id or verl checkpoint}
OUT_DIR=${OUT_DIR:?set OUT_DIR (one directory per evaluated model; rerun with the same one to resume)}
# Prepared with `python -m data_prep <benchmark> ...` (docs/data.md).
EVAL_FILES=${EVAL_FILES:-"$DATA_DIR/mathverse_testmini.parquet $DATA_DIR/mathvista_testmini.parquet \
$DATA_DIR/wemath_testmini.parquet $DATA_DIR/hallusionbench_image.parquet $DATA_DIR/chartqa_test.parquet \
$DATA_DIR/logicvista_test.parquet"}
PASSES=${PASSES:-greedy,sampled}
N_SAMPLES=${N_SAMPLES:-16}
TEMPERATURE=${TEMPERATURE:-0.6}
TOP_P=${TOP_P:-0.95}
# One val-only verl run (cluster start, model load, vLLM start-up) per shard and pass.
SHARD_SIZE=${SHARD_SIZE:-1000}
NNODES=${NNODES:-1}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
ROLLOUT_NAME=${ROLLOUT_NAME:-vllm}
ROLLOUT_TP=${ROLLOUT_TP:-1}
MIN_PIXELS=${MIN_PIXELS:-262144}
MAX_PIXELS=${MAX_PIXELS:-1254400}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-2048}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-2048}
FILTER_WORKERS=${FILTER_WORKERS:-16}
PYTHON=${PYTHON:-python3}
GPUS=$((NNODES * N_GPUS_PER_NODE))

read -r -a files <<< "$EVAL_FILES"
overrides=(
    "data.max_prompt_length=$MAX_PROMPT_LENGTH"
    "data.max_response_length=$MAX_RESPONSE_LENGTH"
    "data.image_min_pixels=$MIN_PIXELS"
    "data.image_max_pixels=$MAX_PIXELS"
    data.filter_overlong_prompts=True
    "data.filter_overlong_prompts_workers=$FILTER_WORKERS"
    data.truncation=error
    data.image_key=images
    # verl builds a training set and an actor even for val-only runs: the smallest valid ones
    "data.train_batch_size=$GPUS"
    "actor_rollout_ref.actor.ppo_mini_batch_size=$GPUS"
    actor_rollout_ref.actor.use_dynamic_bsz=True
    actor_rollout_ref.rollout.n=1
    actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.actor.strategy=fsdp2
    "actor_rollout_ref.rollout.name=$ROLLOUT_NAME"
    "actor_rollout_ref.rollout.tensor_model_parallel_size=$ROLLOUT_TP"
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6
    trainer.use_v1=False
    "trainer.n_gpus_per_node=$N_GPUS_PER_NODE"
    "trainer.nnodes=$NNODES"
)
arguments=(
    --model "$MODEL_PATH" --out "$OUT_DIR" --passes "$PASSES" --n "$N_SAMPLES" --temperature "$TEMPERATURE"
    --top-p "$TOP_P" --shard-size "$SHARD_SIZE" --data "${files[@]}" -- "${overrides[@]}" "$@"
)
if [[ ${PRINT_OVERRIDES:-0} == 1 ]]; then
    printf '%s\n' "${arguments[@]}"
    exit 0
fi
cd "$REPO_DIR"
exec "$PYTHON" -m recipe.vogue.evaluate "${arguments[@]}"
