#!/usr/bin/env bash
# Create (or update) the project's virtual environment at .venv and install requirements.txt plus the
# project in editable mode. Idempotent: a stamp of the requirement files skips pip when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.vogue-setup-stamp"
want="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

echo "[setup] installing requirements into $VENV (first run takes a few minutes)"
"$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
"$VENV/bin/python" -c "import torch, torchvision, transformers, verl; print('[setup] torch', torch.__version__, 'torchvision', torchvision.__version__, 'transformers', transformers.__version__, 'verl', verl.__version__)"
echo "$want" > "$stamp"
