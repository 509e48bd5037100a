"""Scale-out against embedded, measured in the same call (issue 16, part 4).

``scale_out_vs_embedded`` runs the 3-node workflow of ``scale_out.py`` (Input ->
PythonFuncNode -> Output) first on one embedded server (SQLite, one process), then on
PostgreSQL + Redis with two API servers and 1, then 2, Celery workers; each
setting gets ``runs`` runs started from ``clients`` threads (non-blocking starts,
timed until the store holds them all COMPLETED), then one ``rows``-row batch. It
returns runs/s, rows/s and CPU milliseconds per run and per row by process role
(API, worker, the PostgreSQL backends of the cluster's own database, Redis), and
the ratios the issue sets goals for: scale-out CPU per run / embedded (<= 2),
runs/s and rows/s with one worker / embedded (>= 0.6 and >= 0.5), and two
workers / one.

    .venv/bin/python bench/scenarios_speed_scaleout.py --runs 300 --rows 500
    .venv/bin/python bench/scenarios_speed_scaleout.py --blocking

``blocking_latency`` gives the wall time of one blocking run, embedded and scale-out.

Needs PostgreSQL and Redis (``SPURLINE_TEST_POSTGRES_URL``, ``SPURLINE_TEST_SCALE_REDIS_URL``;
see tests/worker/_cluster.py). Wall-clock figures depend on the machine's load:
compare them within one call.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _server import Server
from scale_out import WORKFLOW, _batch, _start, measure, wait_runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "worker"))
from _cluster import Cluster, services_down


def embedded(
    runs: int = 300, clients: int = 8, rows: int = 500, mini_batch: int = 20
) -> dict[str, Any]:
    """The same runs and batch on one embedded server (SQLite): runs/s, rows/s, and CPU
    ms per run and per row of the server process and its PythonFuncNode processes."""
    with Server() as srv, httpx.Client(timeout=60) as http:
        wf = http.post(f"{srv.url}/wf/", json={"name": "sq", "definition": WORKFLOW}).json()
        warm = [_start(http, srv.url, wf["id"], i) for i in range(4)]
        _wait_sqlite(srv.database_url, len(warm))
        cpu0 = sum(srv.cpu().values())
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda i: _start(http, srv.url, wf["id"], i), range(runs)))
        _wait_sqlite(srv.database_url, len(warm) + runs)
        elapsed = time.perf_counter() - start
        cpu1 = sum(srv.cpu().values())
        batch_s = _batch(http, [srv.url, srv.url], wf["id"], rows, mini_batch) if rows else 0.0
        cpu2 = sum(srv.cpu().values())
    return {
        "runs_per_s": round(runs / elapsed, 1),
        "rows_per_s": round(rows / batch_s, 1) if rows else None,
        "cpu_ms_per_run": {"server": round((cpu1 - cpu0) * 1000 / runs, 2)},
        "cpu_ms_per_row": {"server": round((cpu2 - cpu1) * 1000 / rows, 2)} if rows else None,
    }


def _wait_sqlite(url: str, expected: int) -> None:
    path = url.removeprefix("sqlite:///")

    def query(sql: str) -> list[Any]:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    wait_runs(query, expected)


def scale_out_vs_embedded(
    runs: int = 300,
    rows: int = 500,
    workers: tuple[int, ...] = (1, 2),
    concurrency: int = 16,
    clients: int = 8,
    mini_batch: int = 20,
) -> dict[str, Any]:
    """Embedded, then scale-out with each worker count, in one call; see the module
    docstring. Returns ``{"params", "embedded", "workers_<n>", "ratios"}``."""
    params = {
        "runs": runs,
        "rows": rows,
        "workers": list(workers),
        "concurrency": concurrency,
        "clients": clients,
        "mini_batch": mini_batch,
    }
    down = services_down()
    if down:
        return {"params": params, "skipped": down}
    out: dict[str, Any] = {"params": params}
    out["embedded"] = emb = embedded(runs, clients, rows, mini_batch)
    for n in workers:
        out[f"workers_{n}"] = measure(n, runs, concurrency, clients, rows, mini_batch)
    one = out.get(f"workers_{workers[0]}")
    ratios: dict[str, Any] = {}
    if one is not None:
        emb_cpu = emb["cpu_ms_per_run"]["server"]
        ratios["cpu_per_run_vs_embedded"] = round(one["cpu_ms_per_run"]["total"] / emb_cpu, 2)
        ratios["runs_per_s_vs_embedded"] = round(one["runs_per_s"] / emb["runs_per_s"], 2)
        if rows:
            ratios["rows_per_s_vs_embedded"] = round(one["rows_per_s"] / emb["rows_per_s"], 2)
    if len(workers) > 1 and one is not None:
        more = out[f"workers_{workers[-1]}"]
        ratios["runs_per_s_more_workers_vs_one"] = round(more["runs_per_s"] / one["runs_per_s"], 2)
        if rows:
            ratios["rows_per_s_more_workers_vs_one"] = round(
                more["rows_per_s"] / one["rows_per_s"], 2
            )
    out["ratios"] = ratios
    return out


def blocking_latency(runs: int = 30, concurrency: int = 16) -> dict[str, Any]:
    """Median wall time of one blocking run (``POST /wf/{id}/run/``, one client) on an
    embedded server and on PostgreSQL + Redis with one API and one worker: the API's
    wait is woken by the run's end event (PostgreSQL ``LISTEN``, docs/observability.md),
    not by polling."""
    params = {"runs": runs, "concurrency": concurrency}
    down = services_down()
    if down:
        return {"params": params, "skipped": down}
    out: dict[str, Any] = {"params": params}
    with Server() as srv:
        out["embedded_ms"] = _blocking_ms(srv.url, runs)
    with tempfile.TemporaryDirectory() as tmp, Cluster(Path(tmp)) as cluster:
        api = cluster.start_api()
        cluster.start_worker(concurrency=concurrency)
        cluster.ready()
        out["scale_out_ms"] = _blocking_ms(api, runs)
    return out


def _blocking_ms(url: str, runs: int) -> dict[str, float]:
    with httpx.Client(base_url=url, timeout=60) as http:
        wf = http.post("/wf/", json={"name": "sq", "definition": WORKFLOW}).json()["id"]
        walls = []
        for i in range(runs + 3):  # the first 3 warm up
            start = time.perf_counter()
            r = http.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"x": i}}})
            r.raise_for_status()
            walls.append(time.perf_counter() - start)
    walls = sorted(walls[3:])
    return {
        "median": round(statistics.median(walls) * 1000, 1),
        "p90": round(walls[int(len(walls) * 0.9)] * 1000, 1),
    }


def main() -> None:
    """Parse arguments, measure, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mini-batch", type=int, default=20)
    parser.add_argument("--blocking", action="store_true", help="blocking_latency() only")
    args = parser.parse_args()
    if args.blocking:
        print(json.dumps(blocking_latency(), indent=1))
        return
    result = scale_out_vs_embedded(
        args.runs, args.rows, tuple(args.workers), args.concurrency, args.clients, args.mini_batch
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
