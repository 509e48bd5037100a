"""Observability benchmarks (docs/observability.md): event latency to an SSE client,
the blocking run in scale-out, and list latency under 500 SSE subscribers.

    .venv/bin/python bench/observability.py                 # every scenario
    .venv/bin/python bench/observability.py --only latency_embedded,sse_500
    .venv/bin/python bench/observability.py --baseline-src /path/to/old/src \
        --only blocking_scaleout,chain_python               # against older code

With ``--baseline-src`` (the ``src`` folder of a checkout, e.g. the code before the
event stream) the comparable scenarios run that code beside this one, one run each
in turn, so a change of the machine's load touches both alike. Every scenario gives
CPU ms of the processes under test (less sensitive to load than wall time) and
``uptime``.

Scenarios (each prints one JSON line; medians and p95 in ms):

- ``latency_embedded``: a ``spurline serve`` subprocess (SQLite); an SSE client on
  ``GET /events/`` while ``--runs`` blocking runs of Input -> PythonFuncNode ->
  Output execute; latency = the client's receipt time minus the event's ``time``
  (set in the transaction that commits it), for every event of those runs.
- ``latency_scaleout``: the same on PostgreSQL + Redis with two API processes and
  a Celery worker (``tests/worker/_cluster.py``): runs are started on API A, the SSE
  client listens on API B, the worker executes.
- ``blocking_scaleout``: in that cluster, ``POST /wf/{id}/run/`` (blocking) of the
  same 3-node workflow, one at a time: the wait is woken by the run's events. CPU ms
  per run of the API, of the worker (with its pool) and of the PostgreSQL backends.
- ``sse_500``: 500 SSE clients (in a child process, reading their streams) connect
  to one embedded server (half on ``/events/``, half on one workflow's) and receive
  the stored events (time and server CPU of that); then, while they stay connected,
  ``GET /run/?page=1`` is timed, a run started every 10th request; then the same
  without the clients.
- ``chain_python``: ms per node of the 50-node python chain (log capture on), and
  its ratio to the baseline (goal: within 10 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "worker"))

from _compare import START_TIMEOUT_S, chain_per_node, env_with_src, load, ratios
from _measure import summary_ms
from _server import Server, cpu_seconds, descendants
from tests.api._sse import collect, read_events

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


def _latency(
    api_start: str, api_listen: str, runs: int, cpu: Callable[[], float]
) -> dict[str, Any]:
    """Event latencies of ``runs`` runs; ``cpu()`` gives the CPU seconds of the
    processes under test so far (reported per run)."""
    with httpx.Client(timeout=60) as http:
        wf = _workflow(http, api_start)
        for i in range(3):  # warm-up: worker processes started
            _blocking(http, api_start, wf, i)
        listener = Listener(f"{api_listen}/events/?workflow_id={wf}")
        listener.connected.wait(30)
        run_ids = set()
        cpu0 = cpu()
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
        cpu_ms = (cpu() - cpu0) * 1000 / runs
        values = listener.latencies(run_ids)
    return {"events": len(values), **summary_ms(values), "cpu_ms_per_run": round(cpu_ms, 3)}


def latency_embedded(runs: int) -> dict[str, Any]:
    with Server() as srv:
        pid = srv.proc.pid if srv.proc else 0
        return _latency(srv.url, srv.url, runs, lambda: _tree_cpu([pid]))


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
        return _latency(
            a,
            b,
            runs,
            lambda: _tree_cpu([p.pid for p, _ in cluster.apis] + [p.pid for p in cluster.workers]),
        )


def _tree_cpu(pids: list[int]) -> float:
    """CPU seconds of processes ``pids`` and of every process below them."""
    return sum(cpu_seconds(p) for pid in pids for p in [pid, *descendants(pid)])


def _db_cpu(cluster: Any) -> float:
    """CPU seconds of the PostgreSQL backends serving the cluster's database (only
    readable when PostgreSQL runs on this machine as a user we may inspect)."""
    rows = cluster.query("SELECT pid FROM pg_stat_activity WHERE datname = :db", db=cluster.db_name)
    return sum(cpu_seconds(int(r[0])) for r in rows)


def blocking_scaleout(runs: int, baseline: str | None) -> dict[str, Any]:
    """Blocking runs of the 3-node workflow on PostgreSQL + Celery, one at a time; with
    ``baseline`` a second cluster of that code runs beside, runs alternating."""
    cluster_cls = _cluster()
    configs: dict[str, dict[str, str]] = {"current": {}}
    if baseline:
        configs["baseline"] = env_with_src(baseline)
    times: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        clusters, apis, workflows = {}, {}, {}
        for name, env in configs.items():
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            clusters[name] = stack.enter_context(cluster_cls(tmp, **env))
            apis[name] = clusters[name].start_api()
            clusters[name].start_worker(concurrency=4)
        http = stack.enter_context(httpx.Client(timeout=60))
        for name, cluster in clusters.items():
            cluster.ready(timeout=START_TIMEOUT_S)
            workflows[name] = _workflow(http, apis[name])
            for i in range(5):  # warm-up: worker processes, plan cache
                _blocking(http, apis[name], workflows[name], i)

        def cpu_now(cluster: Any) -> dict[str, float]:
            return {
                "api": _tree_cpu([p.pid for p, _ in cluster.apis]),
                "worker": _tree_cpu([p.pid for p in cluster.workers]),
                "postgres": _db_cpu(cluster),
            }

        cpu0 = {name: cpu_now(c) for name, c in clusters.items()}
        for i in range(runs):
            for name in configs:
                times[name].append(_blocking(http, apis[name], workflows[name], i)[1])
        for name, cluster in clusters.items():
            end = cpu_now(cluster)
            cpu[name] = {
                f"{k}_cpu_ms_per_run": round((end[k] - cpu0[name][k]) * 1000 / runs, 3) for k in end
            }
    out: dict[str, Any] = {name: {**summary_ms(times[name]), **cpu[name]} for name in configs}
    if baseline:
        out["ratio_median"] = round(out["current"]["median_ms"] / out["baseline"]["median_ms"], 3)
    return out


def chain_python(runs: int, baseline: str | None) -> dict[str, Any]:
    """ms per node of the 50-node python chain (log capture on), and with ``baseline``
    the same on that code, servers side by side and runs alternating."""
    configs = {"current": env_with_src(None)}
    if baseline:
        configs["baseline"] = env_with_src(baseline)
    out: dict[str, Any] = {"params": {"runs": runs, "nodes": 52}}
    out.update(chain_per_node(configs, runs))
    if baseline:
        out.update(ratios(out, "current", "baseline"))
    return out


def _hold_subscribers(
    url: str, wf: str, newest: int, subscribers: int, caught_up: Any, counts: Any
) -> None:  # pragma: no cover - runs in a child process
    """``subscribers`` SSE clients on ``url`` (half on ``/events/``, half on one
    workflow's), each reading its stream as a browser would, until killed; each is
    counted once it has received the stored events up to ``newest``."""
    marker = re.compile(rb"id: %d\r?\n" % newest)

    async def hold() -> None:
        limits = httpx.Limits(max_connections=subscribers + 10)
        async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as ac:

            async def one(i: int) -> None:
                path = "/events/" if i % 2 else f"/events/?workflow_id={wf}"
                async with ac.stream("GET", path) as r:
                    assert r.status_code == 200
                    tail, seen = b"", False
                    async for chunk in r.aiter_raw():
                        if seen:
                            continue
                        tail += chunk
                        if marker.search(tail):
                            seen = True
                            with counts.get_lock():
                                counts.value += 1
                                if counts.value == subscribers:
                                    caught_up.set()
                        tail = tail[-64:]

            await asyncio.gather(*(one(i) for i in range(subscribers)))

    asyncio.run(hold())


def _newest_event_id(http: httpx.Client) -> int:
    """The id of the newest stored event (the last event of the newest run)."""
    run_id = http.get("/run/", params={"page": 1}).json()[0]["id"]
    return max(int(e.id) for e in collect(http, f"/run/{run_id}/events/") if e.id)


def _timed_lists(http: httpx.Client, wf: str, requests: int) -> list[float]:
    """``GET /run/?page=1`` ``requests`` times, a run started every 10th request."""
    times = []
    for i in range(requests):
        if i % 10 == 0:
            http.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"x": i}}})
        began = time.perf_counter()
        r = http.get("/run/", params={"page": 1})
        times.append(time.perf_counter() - began)
        assert r.status_code == 200 and len(r.json()) == 10
    return times


def sse_500(subscribers: int, requests: int) -> dict[str, Any]:
    """List latency with ``subscribers`` SSE clients connected and without, runs
    going on alike in both. The clients live in a child process, so their work does
    not hold this process's GIL while a request is timed."""
    ctx = multiprocessing.get_context("spawn")
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        wf = _workflow(http, srv.url)
        for i in range(20):
            _blocking(http, srv.url, wf, i)
        pid = srv.proc.pid if srv.proc else 0
        caught_up, counts = ctx.Event(), ctx.Value("i", 0)
        newest = _newest_event_id(http)
        child = ctx.Process(
            target=_hold_subscribers, args=(srv.url, wf, newest, subscribers, caught_up, counts)
        )
        began = time.perf_counter()
        cpu0 = _tree_cpu([pid])
        child.start()
        try:
            if not caught_up.wait(300):
                raise RuntimeError(f"only {counts.value} subscribers caught up")
            connect_s = time.perf_counter() - began
            connect_cpu = _tree_cpu([pid]) - cpu0
            cpu0 = _tree_cpu([pid])
            times = _timed_lists(http, wf, requests)
            cpu_with = _tree_cpu([pid]) - cpu0
        finally:
            child.terminate()
            child.join(30)
        time.sleep(1)
        cpu0 = _tree_cpu([pid])
        without = _timed_lists(http, wf, requests)
        cpu_without = _tree_cpu([pid]) - cpu0
    return {
        "subscribers": subscribers,
        "connect_and_replay": {
            "stored_events": newest,
            "wall_s": round(connect_s, 3),
            "server_cpu_s": round(connect_cpu, 3),
        },
        "with_subscribers": {
            **summary_ms(times),
            "server_cpu_ms_per_request": round(cpu_with * 1000 / requests, 3),
        },
        "without": {
            **summary_ms(without),
            "server_cpu_ms_per_request": round(cpu_without * 1000 / requests, 3),
        },
    }


# name -> (function of the arguments, the figure the goal is about, its goal)
SCENARIOS = {
    "latency_embedded": (lambda a: latency_embedded(a.runs), "p95_ms", 50.0),
    "latency_scaleout": (lambda a: latency_scaleout(a.runs), "p95_ms", 150.0),
    "blocking_scaleout": (lambda a: blocking_scaleout(a.runs, a.baseline), "median_ms", 60.0),
    "sse_500": (lambda a: sse_500(a.subscribers, a.requests), "median_ms", 10.0),
    "chain_python": (lambda a: chain_python(a.chain_runs, a.baseline), "ratio_per_node", 1.1),
}


def _figure(result: dict[str, Any], figure: str) -> float | None:
    for where in (result, result.get("current", {}), result.get("with_subscribers", {})):
        if figure in where:
            return float(where[figure])
    return None  # a ratio without a baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--chain-runs", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument(
        "--baseline-src", help="src folder of the code to compare against (side by side)"
    )
    args = parser.parse_args()
    args.baseline = str(Path(args.baseline_src).resolve()) if args.baseline_src else None
    for name in args.only.split(","):
        fn, figure, goal = SCENARIOS[name]
        result = fn(args)
        value = _figure(result, figure)
        print(
            json.dumps(
                {
                    "scenario": name,
                    **result,
                    "goal": f"{figure} <= {goal:g}",
                    "met": None if value is None else value <= goal,
                    "uptime": load(),
                    "command": " ".join(["python", *sys.argv]),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
