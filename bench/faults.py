"""Reads under load (docs/reliability.md#orphans-and-hogging): many GETs in flight at once
against ``spurline serve`` with a few thousand runs stored.

``.venv/bin/python bench/faults.py [--runs 3000] [--requests 2000] [--in-flight 200]``
prints one JSON object: p50/p99/max latency in ms, requests/s, the server's CPU
seconds and ``uptime`` (the machine's load). Half the GETs are ``GET /run/`` pages
(10 full runs each, at a random page), half ``GET /run/{id}/`` of a random stored run;
every answer is checked (status, page size, run id). ``--in-flight`` keep-alive
connections each send their share of the GETs one after another, through a few lines
of raw HTTP/1.1 rather than an HTTP library, so that the client's own CPU time (also
reported) takes little from the server on a small machine. Goal: p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _measure import CheckFailed, pct
from _server import Server
from scenarios_reads import _seed, _seeded_store


def _run_ids(db: Any) -> list[str]:
    from sqlalchemy import text

    return list(db.read(lambda c: [row[0] for row in c.execute(text("SELECT id FROM runs"))]))


class _Connection:
    """One keep-alive HTTP/1.1 connection: a lean client, so that on a small machine
    the load generator's own CPU time takes as little as it can from the server's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def get(self, target: str) -> Any:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self.reader.readexactly(length)
        if status != 200:
            raise CheckFailed(f"GET {target} -> {status}: {body[:300]!r}")
        return orjson.loads(body)

    def close(self) -> None:
        self.writer.close()


async def _one(conn: _Connection, i: int, ids: list[str], pages: int) -> float:
    t0 = time.perf_counter()
    if i % 2:
        run_id = random.choice(ids)
        body = await conn.get(f"/run/{run_id}/")
        if body.get("id") != run_id or len(body.get("tasks", ())) != 3:
            raise CheckFailed(f"GET /run/{run_id}/: wrong run or tasks")
    else:
        page = random.randint(1, pages)
        body = await conn.get(f"/run/?page={page}&page_size=10")
        if not isinstance(body, list) or len(body) != 10:
            raise CheckFailed(f"GET /run/?page={page}: expected 10 runs")
    return time.perf_counter() - t0


async def _load(port: int, ids: list[str], requests: int, in_flight: int) -> dict[str, Any]:
    """``in_flight`` connections, each sending its share of the GETs one after another."""
    pages = len(ids) // 10
    conns = [await _Connection.open("127.0.0.1", port) for _ in range(in_flight)]
    times: list[float] = []

    async def worker(conn: _Connection, share: range) -> None:
        for i in share:
            times.append(await _one(conn, i, ids, pages))

    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(
            *(worker(c, range(k, requests, in_flight)) for k, c in enumerate(conns))
        )
    finally:
        for conn in conns:
            conn.close()
    wall = time.perf_counter() - t0
    ms = [t * 1000 for t in times]
    return {
        "p50_ms": round(pct(ms, 50), 1),
        "p99_ms": round(pct(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "requests_per_s": round(requests / wall, 1),
        "wall_s": round(wall, 2),
        "client_cpu_s": round(time.process_time() - cpu0, 2),
    }


def concurrent_reads(runs: int, requests: int, in_flight: int) -> dict[str, Any]:
    """Seed ``runs`` runs, then ``requests`` checked GETs, ``in_flight`` at a time."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-"))
    out: dict[str, Any] = {
        "scenario": "concurrent_reads",
        "params": {"runs": runs, "requests": requests, "in_flight": in_flight},
    }
    try:
        db, version = _seeded_store(home)
        out["seed_s"] = round(_seed(db, version, runs), 2)
        ids = _run_ids(db)
        db.close()
        with Server(home=home) as srv:
            cpu0 = srv.cpu()["server"]
            out.update(asyncio.run(_load(srv.port, ids, requests, in_flight)))
            out["server_cpu_s"] = round(srv.cpu()["server"] - cpu0, 2)
    finally:
        shutil.rmtree(home, ignore_errors=True)
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
