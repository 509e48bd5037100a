"""Per-node and per-run costs of issue 16 ("Speed, round two"): PythonFuncNode dispatch
and the store bytes each run writes.

    .venv/bin/python bench/scenarios_speed_nodes.py                       # both
    .venv/bin/python bench/scenarios_speed_nodes.py --only store_bytes_per_run
    .venv/bin/python bench/scenarios_speed_nodes.py --baseline-src /tmp/old/src

Scenarios (functions returning a dict, as bench/scenarios_runs.py; each result has its
``goal``, ``met``, ``uptime`` and the ``command`` that reruns it):

- :func:`python_dispatch`: blocking ``POST /wf/{id}/run/`` of Input -> ``n``
  PythonFuncNodes -> Output on ``spurline serve``; median ms per node of ``runs`` runs,
  and CPU ms per node of the server and of its worker processes (steadier than wall
  time on a shared machine). With ``baseline_src`` (the ``src`` folder of older code)
  both run side by side, one run each in turn (bench/_compare.py), with the ratios.
  Goal: <= 0.5 ms per node (issue 16).
- :func:`store_bytes_per_run`: ``runs`` blocking runs of Input -> PythonFuncNode ->
  Output after ``warmup`` runs; the growth of the SQLite store file (WAL checkpointed
  into it) divided by ``runs``, and that growth per table and index (SQLite's
  ``dbstat``). Goal: <= 1,065 bytes, PySpur 0.1.18's figure (issue 16).

Every run's output is checked, and the recorded runs are COMPLETED with every task.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _compare import chain_per_node, env_with_src, load, ratios
from _measure import CheckFailed, blocking_run, create_workflow
from _server import Server
from _workflows import chain
from scenarios_runs import _check_recorded

#: issue 16's goals
DISPATCH_GOAL_MS = 0.5
PYSPUR_BYTES_PER_RUN = 1065


def _command(name: str, **params: Any) -> str:
    flags = "".join(f" --{k.replace('_', '-')} {v}" for k, v in params.items() if v is not None)
    return f"python bench/scenarios_speed_nodes.py --only {name}{flags}"


def python_dispatch(n: int = 50, runs: int = 10, baseline_src: str | None = None) -> dict[str, Any]:
    """ms per node of the ``n``-node python chain (blocking runs), with CPU ms per node;
    beside ``baseline_src``'s code when given (runs alternating, ratios to it)."""
    configs = {"current": env_with_src(None)}
    if baseline_src:
        configs["baseline"] = env_with_src(baseline_src)
    uptime = load()
    measured = chain_per_node(configs, runs, n)
    current = measured["current"]
    out: dict[str, Any] = {
        "params": {"n": n, "runs": runs, "baseline_src": baseline_src},
        "per_node_ms": current["per_node_ms"],
        "server_cpu_ms_per_node": current["server_cpu_ms_per_node"],
        "workers_cpu_ms_per_node": current["workers_cpu_ms_per_node"],
    }
    if baseline_src:
        out["baseline"] = measured["baseline"]
        out.update(ratios(measured, "current", "baseline"))
    out["goal"] = f"per_node_ms <= {DISPATCH_GOAL_MS}"
    out["met"] = current["per_node_ms"] <= DISPATCH_GOAL_MS
    out["uptime"] = [uptime, load()]
    out["command"] = _command("python_dispatch", n=n, runs=runs, baseline_src=baseline_src)
    return out


def _store_size(path: Path) -> tuple[int, dict[str, int]]:
    """The store file's size with its WAL checkpointed into it, and bytes per table or
    index (pages they use)."""
    con = sqlite3.connect(path)
    try:
        busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise CheckFailed("the WAL checkpoint was blocked by a reader")
        tables = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    finally:
        con.close()
    return path.stat().st_size, tables


def store_bytes_per_run(runs: int = 300, warmup: int = 50) -> dict[str, Any]:
    """Bytes the store grows by per run of the 3-node workflow (Input -> python ->
    Output), measured over ``runs`` runs after ``warmup``, per table and index too."""
    definition, expect = chain(1, "python")
    uptime = load()
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
        wf_id = create_workflow(client, "bench-bytes", definition)
        for i in range(warmup):  # pages allocated, caches warm
            blocking_run(client, wf_id, 10_000 + i, expect(10_000 + i))
        path = srv.home / "spurline.db"
        size0, tables0 = _store_size(path)
        walls = [blocking_run(client, wf_id, i, expect(i)) for i in range(runs)]
        size1, tables1 = _store_size(path)
        _check_recorded(client, wf_id, min(runs, 100), 3)
    growth = {
        name: round((tables1[name] - tables0.get(name, 0)) / runs, 1)
        for name in sorted(tables1, key=lambda k: tables0.get(k, 0) - tables1[k])
        if tables1[name] != tables0.get(name, 0)
    }
    per_run = round((size1 - size0) / runs, 1)
    return {
        "params": {"runs": runs, "warmup": warmup},
        "bytes_per_run": per_run,
        "bytes_per_run_by_table": growth,
        "pyspur_bytes_per_run": PYSPUR_BYTES_PER_RUN,
        "ratio_to_pyspur": round(per_run / PYSPUR_BYTES_PER_RUN, 3),
        "run_median_ms": round(statistics.median(walls) * 1000, 3),
        "goal": f"bytes_per_run <= {PYSPUR_BYTES_PER_RUN} (PySpur 0.1.18)",
        "met": per_run <= PYSPUR_BYTES_PER_RUN,
        "uptime": [uptime, load()],
        "command": _command("store_bytes_per_run", runs=runs, warmup=warmup),
    }


SCENARIOS = {"python_dispatch": python_dispatch, "store_bytes_per_run": store_bytes_per_run}


def main() -> None:
    """Run the scenarios named by ``--only`` (default: both); one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--n", type=int, default=50, help="python_dispatch: chain length")
    parser.add_argument("--runs", type=int, default=None, help="runs measured")
    parser.add_argument("--warmup", type=int, default=50, help="store_bytes_per_run")
    parser.add_argument("--baseline-src", default=None, help="python_dispatch: older src")
    args = parser.parse_args()
    failed = False
    for name in args.only.split(","):
        try:
            if name == "python_dispatch":
                result = python_dispatch(args.n, args.runs or 10, args.baseline_src)
            elif name == "store_bytes_per_run":
                result = store_bytes_per_run(args.runs or 300, args.warmup)
            else:
                raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
            result = {"scenario": name, **result, "ok": True}
        except CheckFailed as exc:
            failed = True
            result = {"scenario": name, "ok": False, "error": str(exc)}
        print(json.dumps(result), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
