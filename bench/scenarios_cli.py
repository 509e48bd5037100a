"""The command line as a client: ``spurline --server URL runs list`` against a real
server, each call a fresh process (as a user runs it). The figure is the whole
command: interpreter start, imports, one HTTP request, the table."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from typing import Any

import httpx
import orjson
from _measure import CheckFailed, call, create_workflow, summary_ms
from _server import Server, spurline_command
from _workflows import chain


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_runs_list(runs: int, calls: int) -> dict[str, Any]:
    """``runs`` blocking runs on a fresh server, then ``calls`` times ``spurline runs list``
    (table) timed from start to exit; ``--json`` is checked once."""
    with Server() as server, httpx.Client(base_url=server.url, timeout=60) as client:
        definition, _ = chain(1, "static")
        wf = create_workflow(client, "cli", definition)
        for i in range(runs):
            call(
                client, "POST", f"/wf/{wf}/run/", json={"initial_inputs": {"input_node": {"v": i}}}
            )
        command = [*spurline_command(), "--server", server.url, "runs", "list"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPURLINE_")}
        env["COLUMNS"] = "120"
        listed = subprocess.run(
            [*command, "--json"], env=env, capture_output=True, check=False, timeout=60
        )
        if listed.returncode != 0 or len(orjson.loads(listed.stdout)) != min(runs, 20):
            raise CheckFailed(f"runs list --json: {listed.returncode} {listed.stderr[:300]!r}")
        walls, cpus = [], []
        for _ in range(calls):
            cpu0, t0 = _children_cpu_s(), time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, check=False, timeout=60)
            walls.append(time.perf_counter() - t0)
            cpus.append(_children_cpu_s() - cpu0)
            if done.returncode != 0 or b"runs: page 1" not in done.stdout:
                raise CheckFailed(f"runs list: {done.returncode} {done.stderr[:300]!r}")
    return {
        "wall": summary_ms(walls),
        "cpu_median_ms": round(statistics.median(cpus) * 1000, 1),
        "median_ms": summary_ms(walls)["median_ms"],
        "cli": "spurline --server URL runs list",
    }
