"""Reads under load (docs/reliability.md#orphans-and-hogging): many GETs in flight at once
against ``spurline serve`` with a few thousand runs stored.

``.venv/bin/python bench/faults.py [--runs 3000] [--requests 2000] [--in-flight 200]``
prints one JSON object: p50/p99/max latency in ms, requests/s, the server's CPU
seconds and ``uptime`` (the machine's load). Half the GETs are ``GET /run/`` pages
(10 full runs each, at a random page), half ``GET /run/{id}/`` of a random stored run;
every answer is checked (status, page size, run id). Goal: p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _measure import CheckFailed, pct
from _server import Server
from scenarios_reads import _seed, _seeded_store


def _run_ids(db: Any) -> list[str]:
    from sqlalchemy import text

    return list(db.read(lambda c: [row[0] for row in c.execute(text("SELECT id FROM runs"))]))


async def _get(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
    r = await client.get(path, params=params)
    if r.status_code != 200:
        raise CheckFailed(f"GET {path} {params} -> {r.status_code}: {r.text[:300]}")
    return r.json()


async def _one(client: httpx.AsyncClient, i: int, ids: list[str], pages: int) -> float:
    t0 = time.perf_counter()
    if i % 2:
        run_id = random.choice(ids)
        body = await _get(client, f"/run/{run_id}/", {})
        if body.get("id") != run_id or len(body.get("tasks", ())) != 3:
            raise CheckFailed(f"GET /run/{run_id}/: wrong run or tasks")
    else:
        page = random.randint(1, pages)
        body = await _get(client, "/run/", {"page": page, "page_size": 10})
        if not isinstance(body, list) or len(body) != 10:
            raise CheckFailed(f"GET /run/?page={page}: expected 10 runs")
    return time.perf_counter() - t0


async def _load(url: str, ids: list[str], requests: int, in_flight: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    gate = asyncio.Semaphore(in_flight)
    pages = len(ids) // 10

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def gated(i: int) -> float:
            async with gate:
                return await _one(client, i, ids, pages)

        t0 = time.perf_counter()
        times = await asyncio.gather(*(gated(i) for i in range(requests)))
        wall = time.perf_counter() - t0
    ms = [t * 1000 for t in times]
    return {
        "p50_ms": round(pct(ms, 50), 1),
        "p99_ms": round(pct(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "requests_per_s": round(requests / wall, 1),
        "wall_s": round(wall, 2),
    }


def concurrent_reads(runs: int, requests: int, in_flight: int) -> dict[str, Any]:
    """Seed ``runs`` runs, then ``requests`` checked GETs, ``in_flight`` at a time."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-"))
    out: dict[str, Any] = {
        "scenario": "concurrent_reads",
        "params": {"runs": runs, "requests": requests, "in_flight": in_flight},
    }
    db, version = _seeded_store(home)
    out["seed_s"] = round(_seed(db, version, runs), 2)
    ids = _run_ids(db)
    db.close()
    with Server(home=home) as srv:
        cpu0 = srv.cpu()["server"]
        out.update(asyncio.run(_load(srv.url, ids, requests, in_flight)))
        out["server_cpu_s"] = round(srv.cpu()["server"] - cpu0, 2)
    out["goal"] = "p99 < 1000 ms"
    out["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=200)
    args = parser.parse_args()
    try:
        result = concurrent_reads(args.runs, args.requests, args.in_flight)
    except CheckFailed as exc:
        result = {"scenario": "concurrent_reads", "error": str(exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
