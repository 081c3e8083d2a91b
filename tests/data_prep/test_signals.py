"""SIGTERM (what timeout, Slurm and docker send) and SIGINT, sent for real to a conversion running in a
subprocess, mid-write: no partial output, no temporary file, the earlier output intact, exit 128 + signal."""

import os
import signal
import subprocess
import sys

import pytest
from data_prep_fixtures import CASES, dataset_from

from data_prep.__main__ import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The real CLI, with one row made to block: rows 0–299 are converted, and the first row group (256 rows)
# is already in the temporary file when row 300 announces itself and waits for the signal.
DRIVER = """
import sys, time
import data_prep.convert
from data_prep.__main__ import main

real_build_row = data_prep.convert.build_row

def build_row(name, split, position, **fields):
    if position == 300:
        print("blocked", flush=True)
        time.sleep(600)
    return real_build_row(name, split, position, **fields)

data_prep.convert.build_row = build_row
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_write_leaves_nothing_and_keeps_the_earlier_output(tmp_path, signum):
    columns, records = CASES["chartqa"][2], CASES["chartqa"][3]
    source = str(tmp_path / "source.parquet")
    dataset_from(columns, (records * 110)[:330]).to_parquet(source)
    output = tmp_path / "out" / "chartqa.parquet"
    output.parent.mkdir()
    output.write_bytes(b"earlier output")
    process = subprocess.Popen([sys.executable, "-c", DRIVER, "chartqa", "--input", source, "--output", str(output)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "blocked\n"
        (temporary,) = [name for name in os.listdir(output.parent) if name.endswith(".tmp")]
        assert os.path.getsize(output.parent / temporary) > 0  # mid-write: a row group is on disk
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    assert f"stopped by {signal.Signals(signum).name}: no output written, an earlier one is unchanged" in err
    assert "Traceback" not in err
    assert os.listdir(output.parent) == ["chartqa.parquet"]
    assert output.read_bytes() == b"earlier output"


def test_the_previous_signal_handlers_are_restored(tmp_path):
    source = str(tmp_path / "source.parquet")
    dataset_from(CASES["chartqa"][2], CASES["chartqa"][3]).to_parquet(source)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert main(["chartqa", "--input", source, "--output", str(tmp_path / "out.parquet")]) == 0
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
