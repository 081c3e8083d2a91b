#!/usr/bin/env bash
# The project's test command: set up .venv (idempotent), then run the whole suite (slow tests included).
# Extra arguments go to pytest, e.g. `bash tools/test.sh -m "not slow"` or `bash tools/test.sh tests/test_shaping.py`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_venv.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
