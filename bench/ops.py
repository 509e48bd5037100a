"""Operations benchmarks (docs/operations.md): the lean run list, and how late a
schedule's runs start.

``.venv/bin/python bench/ops.py`` prints one JSON object per scenario:

- ``summary_list``: ``GET /run/?view=summary&page_size=100`` against the full view
  (the default) with 100,000 runs stored: bytes per page, median and p95 ms, ratio.
- ``fire_latency``: a schedule firing every second on a ``spurline serve``; for each
  fire, seconds from its fire time to the run's creation (``start_time``) and to its
  first node starting. Goal: p95 <= 1 s.

``--runs N`` and ``--fires N`` change the sizes; ``--only a,b`` picks scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _measure import CheckFailed, call, create_workflow, pct, summary_ms
from _server import Server
from scenarios_reads import _seed, _seeded_store

ECHO = {
    "nodes": [
        {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "out"}],
}


def _pages(client: httpx.Client, params: dict[str, Any], n: int) -> tuple[list[float], int]:
    times, size = [], 0
    for i in range(n + 3):
        t0 = time.perf_counter()
        r = client.get("/run/", params=params)
        elapsed = time.perf_counter() - t0
        if r.status_code != 200 or len(r.json()) != 100:
            raise CheckFailed(f"GET /run/ {params}: {r.status_code} {r.text[:200]}")
        if i >= 3:  # warm-ups
            times.append(elapsed)
            size = len(r.content)
    return times, size


def summary_list(runs: int = 100_000, requests: int = 50) -> dict[str, Any]:
    """Bytes and latency of a 100-run page, summary view against the full view."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-"))
    try:
        db, version = _seeded_store(home)
        seed_s = _seed(db, version, runs)
        db.close()
        out: dict[str, Any] = {"params": {"runs": runs, "requests": requests}}
        out["seed_s"] = round(seed_s, 1)
        with Server(home=home) as srv, httpx.Client(base_url=srv.url, timeout=120) as client:
            for view in ("full", "summary"):
                times, size = _pages(client, {"page_size": 100, "view": view}, requests)
                out[view] = {"bytes": size, **summary_ms(times)}
            deep = {"page_size": 100, "page": runs // 200, "view": "summary"}
            times, _ = _pages(client, deep, requests)
            out["summary_deep_page"] = {"page": deep["page"], **summary_ms(times)}
        out["bytes_ratio"] = round(out["full"]["bytes"] / out["summary"]["bytes"], 1)
        out["time_ratio"] = round(out["full"]["median_ms"] / out["summary"]["median_ms"], 1)
        return out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def fire_latency(fires: int = 30) -> dict[str, Any]:
    """Seconds from each fire time to its run's creation and first node start."""
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        wf = create_workflow(client, "echo", ECHO)
        body = {"workflow_id": wf, "name": "bench", "interval_seconds": 1}
        schedule, _ = call(client, "POST", "/wf/schedules/", json=body)
        deadline = time.monotonic() + fires * 3 + 30
        params = {"schedule_id": schedule["id"], "page_size": 100}
        while True:
            runs, _ = call(client, "GET", "/run/", params=params)
            done = [r for r in runs if r["status"] == "COMPLETED"]
            if len(done) >= fires:
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"only {len(done)} of {fires} scheduled runs completed")
            time.sleep(0.5)
        call(client, "POST", f"/wf/schedules/{schedule['id']}/toggle")
    created, started = [], []
    fired = sorted(done, key=lambda r: r["scheduled_for"])[:fires]
    for r in fired:
        due = datetime.fromisoformat(r["scheduled_for"])
        created.append((datetime.fromisoformat(r["start_time"]) - due).total_seconds())
        first = min(datetime.fromisoformat(t["start_time"]) for t in r["tasks"])
        started.append((first - due).total_seconds())
    return {
        "params": {"fires": fires, "interval_s": 1},
        "run_created_after_fire": summary_ms(created),
        "first_node_started_after_fire": summary_ms(started),
        "p95_s": round(pct(started, 95), 3),
        "goal_p95_s": 1.0,
    }


SCENARIOS = {"summary_list": summary_list, "fire_latency": fire_latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--fires", type=int, default=30)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    for name in args.only.split(","):
        t0 = time.perf_counter()
        kwargs = {"runs": args.runs} if name == "summary_list" else {"fires": args.fires}
        result = SCENARIOS[name](**kwargs)  # type: ignore[operator]
        result.update(
            scenario=name,
            wall_s=round(time.perf_counter() - t0, 1),
            load_avg=os.getloadavg(),
            cpus=os.cpu_count(),
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
