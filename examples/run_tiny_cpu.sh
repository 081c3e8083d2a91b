#!/usr/bin/env bash
# The main job: the tiny CPU run (README "Quick start"). Sets up .venv, builds the synthetic data and
# the warm-started tiny model under runs/tiny/ if missing, trains GRPO then VOGUE through verl's own loop
# on the CPU backend (verl's output in runs/tiny/logs/), prints one line per step and a summary table,
# and writes the report (runs/tiny/report/report.md + PNG curves). Arguments are passed on:
# `--steps N`, `--work-dir DIR`, `--algorithms grpo`, hydra overrides.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_venv.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m recipe.vogue.cpu.tiny_run "$@"
