"""Every documented command answers --help with exit 0 (README, docs/)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "recipe.vogue.main_vogue": "main_vogue is powered by Hydra",
    "recipe.vogue.preflight": "python -m recipe.vogue.preflight",
    "recipe.vogue.evaluate": "python -m recipe.vogue.evaluate",
    "recipe.vogue.report": "python -m recipe.vogue.report",
    "recipe.vogue.export": "python -m recipe.vogue.export",
    "recipe.vogue.cpu.tiny": "python -m recipe.vogue.cpu.tiny",
    "recipe.vogue.cpu.tiny_run": "python -m recipe.vogue.cpu.tiny_run",
}


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_every_entry_point_answers_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert COMMANDS[module] in result.stdout, result.stdout[:2000]
