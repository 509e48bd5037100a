"""Observability benchmarks (docs/observability.md): event latency to an SSE client,
the blocking run in scale-out, and list latency under 500 SSE subscribers.

    .venv/bin/python bench/observability.py                 # every scenario
    .venv/bin/python bench/observability.py --only latency_embedded,sse_500

Scenarios (each prints one JSON line; medians and p95 in ms):

- ``latency_embedded``: a ``spurline serve`` subprocess (SQLite); an SSE client on
  ``GET /events/`` while ``--runs`` blocking runs of Input -> PythonFuncNode ->
  Output execute; latency = the client's receipt time minus the event's ``time``
  (set in the transaction that commits it), for every event of those runs.
- ``latency_scaleout``: the same on PostgreSQL + Redis with two API processes and
  a Celery worker (``tests/worker/_cluster.py``): runs are started on API A, the SSE
  client listens on API B, the worker executes.
- ``blocking_scaleout``: in that cluster, ``POST /wf/{id}/run/`` (blocking) of the
  same 3-node workflow, one at a time: the wait is woken by the run's events.
- ``sse_500``: 500 SSE clients connected to one embedded server (half on
  ``/events/``, half on one run's stream) while ``GET /run/?page=1`` is timed.

The 50-node python chain with log capture is ``bench/run.py --only chain_python``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "worker"))

from _measure import summary_ms
from _server import Server
from tests.api._sse import read_events

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
            "config": {
                "code": "print('squaring', input_model.In.x)\nreturn {'y': input_model.In.x ** 2}"
            },
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [
        {"source_id": "in", "target_id": "square"},
        {"source_id": "square", "target_id": "out"},
    ],
}


class Listener:
    """An SSE client in a thread: records (receipt time, event) for ``path``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[float, Any]] = []
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=None) as client, client.stream("GET", self.url) as r:
                assert r.status_code == 200
                self.connected.set()
                for e in read_events(r):
                    self.received.append((time.time(), e))
        except httpx.HTTPError:
            pass  # the server stopped at the end of the scenario

    def wait_for(self, predicate: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(predicate(e) for _, e in list(self.received)):
            if time.monotonic() > deadline:
                raise RuntimeError("event not received")
            time.sleep(0.005)

    def latencies(self, run_ids: set[str]) -> list[float]:
        return [
            at - datetime.fromisoformat(e.data["time"]).timestamp()
            for at, e in self.received
            if e.data.get("run_id") in run_ids
        ]


def _workflow(http: httpx.Client, api: str) -> str:
    r = http.post(f"{api}/wf/", json={"name": "sq", "definition": WORKFLOW})
    r.raise_for_status()
    return str(r.json()["id"])


def _blocking(http: httpx.Client, api: str, wf: str, x: int) -> tuple[str, float]:
    began = time.perf_counter()
    r = http.post(f"{api}/wf/{wf}/run/", json={"initial_inputs": {"in": {"x": x}}})
    took = time.perf_counter() - began
    assert r.status_code == 200 and r.json()["out"] == {"y": x * x}, r.text
    return r.headers.get("location", ""), took


def _latency(api_start: str, api_listen: str, runs: int) -> dict[str, Any]:
    with httpx.Client(timeout=60) as http:
        wf = _workflow(http, api_start)
        for i in range(3):  # warm-up: worker processes started
            _blocking(http, api_start, wf, i)
        listener = Listener(f"{api_listen}/events/?workflow_id={wf}")
        listener.connected.wait(30)
        run_ids = set()
        for i in range(runs):
            r = http.post(
                f"{api_start}/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"x": i}}}
            )
            run_id = r.json()["id"]
            run_ids.add(run_id)
            listener.wait_for(
                lambda e, rid=run_id: (
                    e.event == "run" and e.data["run_id"] == rid and e.data["status"] == "COMPLETED"
                )
            )
        values = listener.latencies(run_ids)
    return {"events": len(values), **summary_ms(values)}


def latency_embedded(runs: int) -> dict[str, Any]:
    with Server() as srv:
        return _latency(srv.url, srv.url, runs)


def _cluster() -> Any:
    from _cluster import Cluster, services_down

    down = services_down()
    if down:
        raise SystemExit(f"scale-out scenarios need PostgreSQL and Redis: {down}")
    return Cluster


def latency_scaleout(runs: int) -> dict[str, Any]:
    cluster_cls = _cluster()
    with tempfile.TemporaryDirectory() as tmp, cluster_cls(Path(tmp)) as cluster:
        a, b = cluster.start_api(), cluster.start_api()
        cluster.start_worker(concurrency=4)
        cluster.ready()
        return _latency(a, b, runs)


def blocking_scaleout(runs: int) -> dict[str, Any]:
    cluster_cls = _cluster()
    with tempfile.TemporaryDirectory() as tmp, cluster_cls(Path(tmp)) as cluster:
        a = cluster.start_api()
        cluster.start_worker(concurrency=4)
        cluster.ready()
        with httpx.Client(timeout=60) as http:
            wf = _workflow(http, a)
            for i in range(5):
                _blocking(http, a, wf, i)
            times = [_blocking(http, a, wf, i)[1] for i in range(runs)]
    return summary_ms(times)


def sse_500(subscribers: int, requests: int) -> dict[str, Any]:
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        wf = _workflow(http, srv.url)
        for i in range(20):
            _blocking(http, srv.url, wf, i)
        connected = threading.Event()
        stop = threading.Event()
        opened: list[int] = []

        async def hold() -> None:
            limits = httpx.Limits(max_connections=subscribers + 10)
            async with httpx.AsyncClient(base_url=srv.url, timeout=None, limits=limits) as ac:

                async def one(i: int) -> None:
                    path = "/events/" if i % 2 else f"/events/?workflow_id={wf}"
                    async with ac.stream("GET", path) as r:
                        assert r.status_code == 200
                        opened.append(i)
                        if len(opened) == subscribers:
                            connected.set()
                        while not stop.is_set():
                            await asyncio.sleep(0.1)

                await asyncio.gather(*(one(i) for i in range(subscribers)))

        thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
        thread.start()
        if not connected.wait(120):
            raise RuntimeError(f"only {len(opened)} subscribers connected")
        # runs go on meanwhile, so every subscriber receives events
        times = []
        for i in range(requests):
            if i % 10 == 0:
                http.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"x": i}}})
            began = time.perf_counter()
            r = http.get("/run/", params={"page": 1})
            times.append(time.perf_counter() - began)
            assert r.status_code == 200 and len(r.json()) == 10
        baseline: list[float] = []
        stop.set()
        thread.join(30)
        time.sleep(1)
        for _ in range(requests):
            began = time.perf_counter()
            http.get("/run/", params={"page": 1})
            baseline.append(time.perf_counter() - began)
    return {
        "subscribers": subscribers,
        "with_subscribers": summary_ms(times),
        "without": summary_ms(baseline),
    }


SCENARIOS = {
    "latency_embedded": (lambda a: latency_embedded(a.runs), "p95", 50.0),
    "latency_scaleout": (lambda a: latency_scaleout(a.runs), "p95", 150.0),
    "blocking_scaleout": (lambda a: blocking_scaleout(a.runs), "median", 60.0),
    "sse_500": (lambda a: sse_500(a.subscribers, a.requests), "median", 10.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    for name in args.only.split(","):
        fn, figure, goal = SCENARIOS[name]
        result = fn(args)
        measured = result["with_subscribers"] if name == "sse_500" else result
        value = measured[f"{figure}_ms"]
        print(
            json.dumps(
                {
                    "scenario": name,
                    **result,
                    "goal": f"{figure} <= {goal:g} ms",
                    "met": value <= goal,
                    "loadavg": os.getloadavg(),
                    "command": f"python bench/observability.py --only {name}",
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
