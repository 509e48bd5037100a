"""Retention scenario: ``GET /run/`` latency while a prune deletes a large store.

The store is seeded through ``spurline.store.seed`` (bulk inserts of COMPLETED
runs): ``runs`` runs that ended 40 days ago and ``kept`` recent ones. A real
``spurline serve`` answers ``GET /run/?page=1&page_size=10`` first alone
(baseline), then while the prune works, either

- ``cli``: ``spurline runs prune --older-than 30d`` in its own process, or
- ``retention``: the server's own background retention (``SPURLINE_RETENTION_DAYS=30``),
  deleting in the process that serves the requests.

Every response is checked (200, ten runs); the prune's result is checked too
(every old run gone, every recent one kept).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from _measure import CheckFailed, call, summary_ms, timed_gets
from _server import Server, spurline_command
from scenarios_reads import _page_check, _seeded_store

PAGE = {"page": 1, "page_size": 10}


def _seed_old_and_new(home: Path, runs: int, kept: int) -> float:
    from spurline.engine.clock import now
    from spurline.store.seed import seed_runs

    db, version = _seeded_store(home)
    t0 = time.perf_counter()
    old_end = now() - timedelta(days=40)
    db.writer.run(lambda c: seed_runs(c, version, runs, until=old_end))
    db.writer.run(lambda c: seed_runs(c, version, kept))
    db.close()
    return time.perf_counter() - t0


def _gets_while(client: httpx.Client, busy: Any) -> list[float]:
    check = _page_check(10)
    times: list[float] = []
    while busy():
        body, elapsed = call(client, "GET", "/run/", params=PAGE)
        problem = check(body)
        if problem:
            raise CheckFailed(f"GET /run/ during the prune: {problem}")
        times.append(elapsed)
    return times


def prune_while_serving(
    runs: int = 100_000, kept: int = 1000, baseline: int = 200, mode: str = "cli"
) -> dict[str, Any]:
    """``GET /run/`` p95 alone and while ``runs`` old runs are pruned (see module doc)."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-"))
    out: dict[str, Any] = {"params": {"runs": runs, "kept": kept, "mode": mode}}
    try:
        out["seed_s"] = round(_seed_old_and_new(home, runs, kept), 2)
        env = {"SPURLINE_RETENTION_DAYS": "30"} if mode == "retention" else {}
        server = Server(home=home, env=env)
        if mode == "retention":  # the prune starts with the server: no quiet baseline
            out["baseline"] = None
        with server as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
            t0 = time.perf_counter()
            if mode == "cli":
                out["baseline"] = timed_gets(client, "/run/", baseline, _page_check(10), PAGE)
                prune = subprocess.Popen(
                    [*spurline_command(), "runs", "prune", "--older-than", "30d", "--json"],
                    env=srv.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                t0 = time.perf_counter()
                times = _gets_while(client, lambda: prune.poll() is None)
                stdout, stderr = prune.communicate()
                if prune.returncode != 0:
                    raise CheckFailed(f"prune exited {prune.returncode}: {stderr[-300:]}")
                out["prune_report"] = json.loads(stdout)
            else:

                def left() -> bool:
                    _, total = _total(client)
                    return total > kept

                times = _gets_while(client, left)
            out["prune_s"] = round(time.perf_counter() - t0, 2)
            out["pruned_runs_per_s"] = round(runs / out["prune_s"]) if out["prune_s"] else None
            out["during"] = summary_ms(times)
            _, total = _total(client)
            if total != kept:
                raise CheckFailed(f"{total} runs left after the prune, expected {kept}")
            out["server"] = srv.memory()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out["median_ms"], out["p95_ms"] = out["during"]["median_ms"], out["during"]["p95_ms"]
    if out["baseline"]:
        out["p95_ratio_to_baseline"] = round(out["p95_ms"] / out["baseline"]["p95_ms"], 2)
    return out


def _total(client: httpx.Client) -> tuple[Any, int]:
    r = client.get("/run/", params=PAGE)
    if r.status_code != 200:
        raise CheckFailed(f"GET /run/ -> {r.status_code}")
    return r.json(), int(r.headers["X-Total-Count"])
