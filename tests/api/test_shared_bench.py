"""The shared runs benchmark (bench/shared/runs_bench.py, byte for byte) passes its own
checks against a live server: every workflow it saves is accepted as PySpur clients
write it, every run's outputs and recorded tasks are right, paging and the batch's
output file hold every row (docs/pyspur.md#the-node-catalogue)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import LiveServer

BENCH = Path(__file__).resolve().parents[2] / "bench" / "shared" / "runs_bench.py"


def test_the_shared_benchmark_passes_its_checks(server: LiveServer) -> None:
    sizes = ["-N", "3", "-W", "3", "-R", "2", "-M", "15", "-K", "6", "--requests", "3"]
    done = subprocess.run(
        [sys.executable, str(BENCH), "--base-url", f"{server.url}/api", *sizes],
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(done.stdout)
    assert result["failures"] == [], result["failures"]
    assert (done.returncode, result["ok"]) == (0, True), done.stderr[-2000:]
    assert result["chain"]["runs_ok"] == 2
    assert result["fill"]["runs_ok"] == 15
    assert result["batch"]["rows_ok"] == 6
    assert result["batch"]["output_file_lines"] == 6
    assert result["observations"] == []
