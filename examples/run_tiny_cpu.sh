#!/usr/bin/env bash
# The main job: the tiny CPU run (docs/tiny_run.md). Sets up .venv, builds the synthetic data and
# the warm-started tiny model under runs/tiny/ if missing, trains GRPO then VOGUE through verl's own loop
# on the CPU backend (verl's output in runs/tiny/logs/), prints one line per step and a summary table,
# and writes the report (runs/tiny/report/report.md + PNG curves). Arguments are passed on:
# `--steps N`, `--work-dir DIR`, `--algorithms grpo`, hydra overrides.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for argument in "$@"; do
    if [[ $argument == -h || $argument == --help ]]; then  # answer before installing anything
        if [[ -x "$ROOT/.venv/bin/python" ]]; then
            exec "$ROOT/.venv/bin/python" -m recipe.vogue.cpu.tiny_run --help
        fi
        sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
    fi
done
bash "$ROOT/tools/setup_venv.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m recipe.vogue.cpu.tiny_run "$@"
