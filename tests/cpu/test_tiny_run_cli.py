"""The main job's command line (examples/run_tiny_cpu.sh → recipe.vogue.cpu.tiny_run): bad arguments and failed
runs are one line, and --help answers before anything is installed."""

import shutil
import subprocess
from pathlib import Path

import pytest

from recipe.vogue.cpu import tiny_run

REPO = Path(__file__).resolve().parents[2]

HYDRA_TYPO_LOG = """\
/work/main/.venv/lib/python3.11/site-packages/verl/workers/engine/__init__.py:32: UserWarning: torchtitan engine
Could not override 'trainer.total_training_stepz'.
To append to your config use +trainer.total_training_stepz=3
Key 'total_training_stepz' is not in struct
    full_key: trainer.total_training_stepz
    object_type=dict
Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.
"""

RAY_LOG = """\
\x1b[36m(VogueTaskRunnerBase pid=16014)\x1b[0m     assert self.config.actor.use_dynamic_bsz == x
\x1b[36m(VogueTaskRunnerBase pid=16014)\x1b[0m            ^^^^^^^^^^^^^^^^^^
\x1b[36m(VogueTaskRunnerBase pid=16014)\x1b[0m AssertionError
"""


def test_the_last_error_line_is_the_cause():
    assert tiny_run.last_error_line(HYDRA_TYPO_LOG) == "Key 'total_training_stepz' is not in struct"
    assert tiny_run.last_error_line(RAY_LOG) == "AssertionError"
    assert tiny_run.last_error_line("") == "no output"


def test_a_failed_training_run_is_one_line(tmp_path, capsys, monkeypatch):
    log = tmp_path / "vogue.log"
    log.write_text(RAY_LOG)
    monkeypatch.setattr(tiny_run, "ensure_assets", lambda work_dir, seed: (str(tmp_path), str(tmp_path)))

    def failing_train(algorithm, *args, **kwargs):
        tiny_run._check_exit(1, f"{algorithm} training", str(log))

    monkeypatch.setattr(tiny_run, "train", failing_train)
    assert tiny_run.main(["--work-dir", str(tmp_path), "--algorithms", "vogue"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == f"error: vogue training: exited with 1: AssertionError (whole output: {log})"


@pytest.mark.parametrize("steps", ["0", "-1"])
def test_steps_must_be_positive(steps, capsys):
    with pytest.raises(SystemExit):
        tiny_run.main(["--steps", steps])
    assert f"--steps must be >= 1, got {steps}" in capsys.readouterr().err


def test_help_answers_before_anything_is_installed(tmp_path):
    """A fresh checkout without .venv: --help prints the usage and installs nothing (there is no setup script
    in this copy, so calling it would fail)."""
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "run_tiny_cpu.sh", tmp_path / "examples")
    result = subprocess.run(["bash", str(tmp_path / "examples" / "run_tiny_cpu.sh"), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--steps N" in result.stdout and not (tmp_path / ".venv").exists()
