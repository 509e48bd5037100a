"""Scale-out throughput: runs/s through two API servers and 1 or 2 Celery workers
on PostgreSQL + Redis (SPEC §7), all processes on this machine's loopback.

    .venv/bin/python bench/scale_out.py --runs 300 --workers 1 2

For each worker count: a fresh cluster (database, queue), then ``--runs`` runs of a
3-node workflow (Input -> PythonFuncNode -> Output) started through both APIs
from ``--clients`` threads; the clock runs from the first POST to the moment the
store holds every run COMPLETED. Prints one line per setting and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "worker"))
from _cluster import Cluster, services_down

WORKFLOW = {
    "nodes": [
        {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
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


def measure(workers: int, runs: int, concurrency: int, clients: int) -> dict[str, Any]:
    """One cluster with ``workers`` workers; returns runs/s and timings."""
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
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(lambda i: _start(http, apis[i % 2], wf["id"], i), range(runs)))
            submitted = time.perf_counter() - start
            _wait_all(cluster, len(warm) + runs)
            elapsed = time.perf_counter() - start
    return {
        "workers": workers,
        "concurrency": concurrency,
        "runs": runs,
        "submit_s": round(submitted, 2),
        "total_s": round(elapsed, 2),
        "runs_per_s": round(runs / elapsed, 1),
    }


def _start(http: httpx.Client, api: str, wf: str, i: int) -> str:
    r = http.post(f"{api}/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"x": i}}})
    r.raise_for_status()
    return str(r.json()["id"])


def _wait_all(cluster: Cluster, expected: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (row,) = cluster.query(
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
    args = parser.parse_args()
    down = services_down()
    if down:
        sys.exit(f"scale-out benchmark needs PostgreSQL and Redis: {down}")
    results = []
    for workers in args.workers:
        result = measure(workers, args.runs, args.concurrency, args.clients)
        print(
            f"{workers} worker(s) x {args.concurrency}: {args.runs} runs in "
            f"{result['total_s']} s = {result['runs_per_s']} runs/s "
            f"(all submitted after {result['submit_s']} s)"
        )
        results.append(result)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
