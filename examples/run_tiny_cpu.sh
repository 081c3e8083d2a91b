#!/usr/bin/env bash
# The main job: the tiny CPU run (README "Quick start"). Sets up .venv, builds the synthetic data and
# the warm-started tiny model under runs/tiny/ if missing, trains through verl's own loop on the CPU
# backend and prints a summary. Arguments are passed on: `--steps N`, `--work-dir DIR`, hydra overrides.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_venv.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m recipe.vogue.cpu.tiny_run "$@"
