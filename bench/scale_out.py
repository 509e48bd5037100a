"""Scale-out throughput: runs/s through two API servers and 1 or 2 Celery workers
on PostgreSQL + Redis (SPEC §7), all processes on this machine's loopback.

    .venv/bin/python bench/scale_out.py --runs 300 --rows 1000 --workers 1 2

For each worker count: a fresh cluster (database, queue), then ``--runs`` runs of a
3-node workflow (Input -> PythonFuncNode -> Output) started through both APIs
from ``--clients`` threads; the clock runs from the first POST to the moment the
store holds every run COMPLETED. Then a ``--rows``-row batch of the same workflow
(``--mini-batch`` rows in flight), timed from the POST to the parent COMPLETED.
Also prints where the CPU went during the runs and the batch (milliseconds of CPU
per run and per row by role, from /proc: API, worker, the PostgreSQL backends of the
cluster's database, Redis) and how busy the machine's cores were, which is what limits throughput on
a small machine. Prints one line per setting and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "worker"))
from _cluster import Cluster, services_down

WORKFLOW = {
    "nodes": [
        {
            "id": "in",
            "title": "In",
            "node_type": "InputNode",
            "config": {"output_schema": {"x": "int"}},
        },
        {
            "id": "square",
            "title": "Square",
            "node_type": "PythonFuncNode",
            "config": {"code": "return {'y': input_model.In.x ** 2}"},
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [
        {"source_id": "in", "target_id": "square"},
        {"source_id": "square", "target_id": "out"},
    ],
}


def measure(
    workers: int, runs: int, concurrency: int, clients: int, rows: int, mini_batch: int
) -> dict[str, Any]:
    """One cluster with ``workers`` workers; returns runs/s, rows/s and timings."""
    with tempfile.TemporaryDirectory() as tmp, Cluster(Path(tmp)) as cluster:
        apis = [cluster.start_api(), cluster.start_api()]
        for _ in range(workers):
            cluster.start_worker(concurrency=concurrency)
        cluster.ready()
        with httpx.Client(timeout=60) as http:
            wf = http.post(f"{apis[0]}/wf/", json={"name": "sq", "definition": WORKFLOW}).json()
            # Warm-up: every worker imports, connects and starts its Python pool.
            warm = [_start(http, apis[i % 2], wf["id"], i) for i in range(4 * workers)]
            _wait_all(cluster, len(warm))
            roles = {
                "api": [p.pid for p, _ in cluster.apis],
                "workers": [p.pid for p in cluster.workers],
            }
            backends = _backends(cluster)
            cpu_before, busy_before = _cpu_by_role(roles, backends), _machine_busy()
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(lambda i: _start(http, apis[i % 2], wf["id"], i), range(runs)))
            submitted = time.perf_counter() - start
            _wait_all(cluster, len(warm) + runs)
            elapsed = time.perf_counter() - start
            backends |= _backends(cluster)
            cpu_after, busy_after = _cpu_by_role(roles, backends), _machine_busy()
            rows_s = _batch(http, apis, wf["id"], rows, mini_batch) if rows else 0.0
            backends |= _backends(cluster)
            cpu_batch = _cpu_by_role(roles, backends)
    cpu = {role: round(cpu_after[role] - cpu_before[role], 2) for role in cpu_after}
    per_run = {
        role: round((cpu_after[role] - cpu_before[role]) * 1000 / runs, 2) for role in cpu_after
    }
    per_run["total"] = round(sum(per_run.values()), 2)
    per_row = {
        role: round((cpu_batch[role] - cpu_after[role]) * 1000 / max(rows, 1), 2)
        for role in cpu_after
    }
    per_row["total"] = round(sum(per_row.values()), 2)
    busy, total = (a - b for a, b in zip(busy_after, busy_before, strict=True))
    return {
        "workers": workers,
        "concurrency": concurrency,
        "runs": runs,
        "submit_s": round(submitted, 2),
        "total_s": round(elapsed, 2),
        "runs_per_s": round(runs / elapsed, 1),
        "rows": rows,
        "rows_per_s": round(rows / rows_s, 1) if rows else None,
        "cpu_s": cpu,
        "cpu_ms_per_run": per_run,
        "cpu_ms_per_row": per_row if rows else None,
        "machine_busy_pct": round(100 * busy / total, 1),
    }


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _procs() -> list[tuple[int, str, int]]:
    """(pid, command name, session id) of every process."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            session = int(stat.rpartition(")")[2].split()[3])
            out.append((int(entry.name), name, session))
    return out


def _backends(cluster: Cluster) -> set[int]:
    """Pids of the PostgreSQL backends connected to the cluster's own database (the
    server is shared with whatever else runs on the machine)."""
    rows = cluster.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return {int(r[0]) for r in rows}


def _cpu_by_role(roles: dict[str, list[int]], backends: set[int]) -> dict[str, float]:
    """CPU seconds so far of each role's process sessions (children included, so a
    worker counts its PythonFuncNode processes), of the cluster's PostgreSQL backends
    and of Redis (the whole server: its other clients' share is small)."""
    hz = os.sysconf("SC_CLK_TCK")
    procs = _procs()
    result = {
        role: sum(_ticks(pid) for pid, _, sid in procs if sid in leaders) / hz
        for role, leaders in roles.items()
    }
    result["postgres"] = sum(_ticks(pid) for pid in backends) / hz
    result["redis"] = sum(_ticks(pid) for pid, n, _ in procs if n == "redis-server") / hz
    return result


def _machine_busy() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _batch(http: httpx.Client, apis: list[str], wf: str, rows: int, mini_batch: int) -> float:
    """Seconds from starting a ``rows``-row batch to its parent COMPLETED."""
    csv = "x\n" + "".join(f"{i}\n" for i in range(rows))
    ds = http.post(f"{apis[1]}/ds/", files={"file": ("rows.csv", csv.encode())}).json()
    start = time.perf_counter()
    r = http.post(
        f"{apis[0]}/wf/{wf}/start_batch_run/",
        json={"dataset_id": ds["id"], "mini_batch_size": mini_batch},
    )
    r.raise_for_status()
    parent = r.json()["id"]
    while True:
        status = http.get(f"{apis[1]}/run/{parent}/").json()["status"]
        if status not in ("PENDING", "RUNNING"):
            break
        time.sleep(0.05)
    if status != "COMPLETED":
        raise RuntimeError(f"batch ended {status}")
    return time.perf_counter() - start


def _start(http: httpx.Client, api: str, wf: str, i: int) -> str:
    r = http.post(f"{api}/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"x": i}}})
    r.raise_for_status()
    return str(r.json()["id"])


def _wait_all(cluster: Cluster, expected: int, timeout: float = 600) -> None:
    wait_runs(cluster.query, expected, timeout)


def wait_runs(query: Callable[[str], list[Any]], expected: int, timeout: float = 600) -> None:
    """Wait until ``expected`` runs are COMPLETED in the store ``query`` reads (SQL ->
    rows); raises when one ended otherwise, TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        (row,) = query(
            "SELECT count(*) FILTER (WHERE status = 'COMPLETED'),"
            " count(*) FILTER (WHERE status NOT IN ('PENDING', 'RUNNING', 'COMPLETED'))"
            " FROM runs"
        )
        done, bad = row
        if bad:
            raise RuntimeError(f"{bad} run(s) did not complete")
        if done >= expected:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {expected} runs completed")
        time.sleep(0.05)


def main() -> None:
    """Parse arguments, measure each worker count, print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--mini-batch", type=int, default=20)
    args = parser.parse_args()
    down = services_down()
    if down:
        sys.exit(f"scale-out benchmark needs PostgreSQL and Redis: {down}")
    results = []
    for workers in args.workers:
        result = measure(
            workers, args.runs, args.concurrency, args.clients, args.rows, args.mini_batch
        )
        print(
            f"{workers} worker(s) x {args.concurrency}: {args.runs} runs in "
            f"{result['total_s']} s = {result['runs_per_s']} runs/s "
            f"(all submitted after {result['submit_s']} s); CPU ms/run {result['cpu_ms_per_run']}, "
            f"machine {result['machine_busy_pct']}% busy; batch of {args.rows} rows: "
            f"{result['rows_per_s']} rows/s, CPU ms/row {result['cpu_ms_per_row']}"
        )
        results.append(result)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
