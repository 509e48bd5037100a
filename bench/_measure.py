"""Statistics and checked HTTP calls shared by the scenarios."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


class CheckFailed(Exception):
    """A response had the wrong status or content: the scenario reports it, never a time."""


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    """``{n, median_ms, p95_ms, min_ms, max_ms}`` of durations given in seconds."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(pct(ms, 95), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def call(
    client: httpx.Client, method: str, path: str, expect: tuple[int, ...] = (200,), **kw: Any
) -> tuple[Any, float]:
    """One request; returns (parsed JSON body, seconds from send to body read).

    Raises:
        CheckFailed: a status outside ``expect`` or a transport error.
    """
    t0 = time.perf_counter()
    try:
        r = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
    elapsed = time.perf_counter() - t0
    if r.status_code not in expect:
        raise CheckFailed(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
    return (r.json() if r.content else None), elapsed


def timed_gets(
    client: httpx.Client,
    path: str,
    n: int,
    check: Callable[[Any], str | None],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``n`` checked GETs of ``path`` (after 3 untimed warm-ups); latency summary."""
    for _ in range(3):
        call(client, "GET", path, params=params)
    times = []
    for _ in range(n):
        body, el = call(client, "GET", path, params=params)
        problem = check(body)
        if problem:
            raise CheckFailed(f"GET {path} {params or ''}: {problem}")
        times.append(el)
    return summary_ms(times)


def create_workflow(client: httpx.Client, name: str, definition: dict[str, Any]) -> str:
    """POST /wf/; returns the workflow id."""
    body, _ = call(
        client,
        "POST",
        "/wf/",
        expect=(200, 201),
        json={"name": name, "description": "bench", "definition": definition},
    )
    return str(body["id"])


def blocking_run(client: httpx.Client, wf_id: str, v0: int, expect: dict[str, Any]) -> float:
    """POST /wf/{id}/run/ and check the OutputNode's output; returns seconds."""
    body, el = call(
        client, "POST", f"/wf/{wf_id}/run/", json={"initial_inputs": {"input_node": {"v": v0}}}
    )
    got = (body or {}).get("output_node")
    if got != expect:
        raise CheckFailed(f"run of {wf_id} with v={v0}: output_node={got!r}, expected {expect!r}")
    return el


def concurrent_blocking_runs(
    url: str, wf_id: str, runs: int, clients: int, expect: Callable[[int], dict[str, Any]]
) -> tuple[list[float], list[str], float]:
    """``runs`` checked blocking runs (``v`` = 0 .. runs-1) from ``clients`` threads, each
    with its own keep-alive connection. Returns (latencies in s, failures, elapsed s)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(runs))

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=300) as own:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                try:
                    el = blocking_run(own, wf_id, i, expect(i))
                except CheckFailed as exc:
                    with lock:
                        errors.append(str(exc))
                    continue
                with lock:
                    latencies.append(el)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - t0
