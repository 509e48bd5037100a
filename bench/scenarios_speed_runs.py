"""Per-run fixed costs (issue 16, "Speed, round two"): blocking runs/s of the 3-node
workflow from 4 client threads, and what an empty run (Input -> Output) costs.

Each function starts its own ``spurline serve`` (SQLite, a temp SPURLINE_HOME),
checks every response and the recorded run and task states, and returns a dict:
the median of ``passes`` passes, each pass's figures with the machine's load
(``uptime``), and the command that reruns it alone. CPU per run (of the server
process, read from /proc) is steadier than wall time on a shared machine.

    .venv/bin/python bench/scenarios_speed_runs.py                  # both
    .venv/bin/python bench/scenarios_speed_runs.py --only empty_run --runs 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import CheckFailed, blocking_run, call, create_workflow, summary_ms
from _measure import concurrent_blocking_runs as blocking_runs_from
from _server import Server
from _workflows import chain


def _median(values: Any) -> float:
    return round(statistics.median(values), 3)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _command(name: str, **params: Any) -> str:
    args = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in params.items())
    return f".venv/bin/python bench/scenarios_speed_runs.py --only {name} {args}".strip()


def _check_recorded(client: httpx.Client, wf_id: str, tasks: int, runs: int = 100) -> None:
    """The workflow's last ``runs`` runs are COMPLETED with every task COMPLETED once."""
    body, _ = call(client, "GET", f"/wf/{wf_id}/runs/", params={"page_size": runs})
    if len(body) != runs:
        raise CheckFailed(f"{len(body)} runs listed, expected {runs}")
    for run in body:
        done = [t for t in run["tasks"] if t["status"] == "COMPLETED" and t["attempts"] == 1]
        if run["status"] != "COMPLETED" or len(run["tasks"]) != tasks or len(done) != tasks:
            raise CheckFailed(f"run {run['id']}: {run['status']}, {len(done)}/{tasks} tasks done")


def _throughput_pass(srv: Server, wf_id: str, runs: int, clients: int) -> dict[str, Any]:
    _, expect = chain(1, "python")
    cpu0 = srv.cpu()
    latencies, errors, elapsed = blocking_runs_from(srv.url, wf_id, runs, clients, expect)
    cpu1 = srv.cpu()
    if errors:
        raise CheckFailed(f"{len(errors)} of {runs} runs failed, e.g. {errors[0]}")
    return {
        "runs_per_s": round(runs / elapsed, 1),
        "server_cpu_ms_per_run": round((cpu1["server"] - cpu0["server"]) * 1000 / runs, 3),
        "workers_cpu_ms_per_run": round((cpu1["workers"] - cpu0["workers"]) * 1000 / runs, 3),
        "latency": summary_ms(latencies),
        "uptime": _uptime(),
    }


def blocking_runs(runs: int = 2000, clients: int = 4, passes: int = 3) -> dict[str, Any]:
    """Blocking runs/s of Input -> 1 PythonFuncNode -> Output (``POST /wf/{id}/run/``)
    from ``clients`` threads, ``runs`` runs a pass; goal >= 400 runs/s (issue 16)."""
    definition, expect = chain(1, "python")
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
        wf_id = create_workflow(client, "bench-speed", definition)
        for i in range(20):  # warm-up: imports, plan cache, pool start
            blocking_run(client, wf_id, 10_000 + i, expect(10_000 + i))
        each = [_throughput_pass(srv, wf_id, runs, clients) for _ in range(passes)]
        _check_recorded(client, wf_id, 3, min(100, 20 + runs * passes))
        memory = srv.memory()
    return {
        "params": {"runs": runs, "clients": clients, "passes": passes},
        "runs_per_s": _median(p["runs_per_s"] for p in each),
        "server_cpu_ms_per_run": _median(p["server_cpu_ms_per_run"] for p in each),
        "workers_cpu_ms_per_run": _median(p["workers_cpu_ms_per_run"] for p in each),
        "median_ms": _median(p["latency"]["median_ms"] for p in each),
        "passes": each,
        "server": memory,
        "command": _command("blocking_runs", runs=runs, clients=clients, passes=passes),
    }


def empty_run(runs: int = 300, passes: int = 3) -> dict[str, Any]:
    """One blocking run of Input -> Output at a time: wall median (client to response)
    and server CPU ms per run; goal <= 2 ms end to end (issue 16)."""
    each = []
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
        # Input -> Output: the run's own fixed cost, no node doing work
        definition, _ = chain(0, "python")
        wf_id = create_workflow(client, "bench-empty", definition)
        for i in range(20):
            blocking_run(client, wf_id, 10_000 + i, {"v": 10_000 + i})
        for _ in range(passes):
            cpu0 = srv.cpu()["server"]
            walls = [blocking_run(client, wf_id, i, {"v": i}) for i in range(runs)]
            cpu_s = srv.cpu()["server"] - cpu0
            each.append(
                {
                    **summary_ms(walls),
                    "server_cpu_ms_per_run": round(cpu_s * 1000 / runs, 3),
                    "uptime": _uptime(),
                }
            )
        _check_recorded(client, wf_id, 2, min(100, 20 + runs * passes))
        memory = srv.memory()
    return {
        "params": {"runs": runs, "passes": passes},
        "median_ms": _median(p["median_ms"] for p in each),
        "p95_ms": _median(p["p95_ms"] for p in each),
        "server_cpu_ms_per_run": _median(p["server_cpu_ms_per_run"] for p in each),
        "passes": each,
        "server": memory,
        "command": _command("empty_run", runs=runs, passes=passes),
    }


SCENARIOS = {"blocking_runs": blocking_runs, "empty_run": empty_run}


def main() -> int:
    """Run the scenarios named by ``--only`` (default: both); one JSON object each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--runs", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--passes", type=int)
    args = parser.parse_args()
    failed = False
    for name in args.only.split(","):
        fn = SCENARIOS[name]
        params = {k: v for k, v in vars(args).items() if k != "only" and v is not None}
        if name == "empty_run":
            params.pop("clients", None)
        try:
            result = {"scenario": name, **fn(**params)}
        except CheckFailed as exc:
            result, failed = {"scenario": name, "error": str(exc)}, True
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
