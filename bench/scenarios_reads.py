"""Read scenarios on large stores: ``GET /run/`` pages and ``GET /run/{id}/``.

Stores are filled through the store layer (``spurline.store.seed``: bulk inserts of
COMPLETED runs), never through one HTTP call per run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _measure import CheckFailed, blocking_run, call, create_workflow, timed_gets
from _server import Server
from _workflows import chain


def _seeded_store(home: Path) -> tuple[Any, Any]:
    """A migrated store under ``home`` with one workflow (Input -> python -> Output)."""
    from spurline.nodes.registry import parse_definition
    from spurline.store import workflows as wf_q
    from spurline.store.db import Database
    from spurline.store.versions import versions

    db = Database(f"sqlite:///{home.resolve() / 'spurline.db'}")
    db.upgrade()
    definition = parse_definition(chain(1, "python")[0]).dump()
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "seeded", None, definition))
    vid = wf.current_version_id or ""
    return db, db.read(lambda c: versions.get(c, vid))


def _seed(db: Any, version: Any, count: int) -> float:
    from spurline.store.seed import seed_runs

    t0 = time.perf_counter()
    db.writer.run(lambda c: seed_runs(c, version, count))
    return time.perf_counter() - t0


def _page_check(size: int):  # type: ignore[no-untyped-def]
    def check(body: Any) -> str | None:
        if not isinstance(body, list) or len(body) != size:
            return f"expected {size} runs, got {len(body) if isinstance(body, list) else body}"
        if any(r["status"] != "COMPLETED" or len(r["tasks"]) != 3 for r in body):
            return "a listed run is not a COMPLETED 3-task run"
        return None

    return check


def growing_stores(
    sizes: tuple[int, ...],
) -> Iterator[tuple[dict[str, Any], Server, httpx.Client, Any]]:
    """One store seeded up to each of ``sizes`` in turn, each served by a new server:
    yields (its entry: runs and seeding figures, the server, a client, the version)."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-"))
    try:
        db, version = _seeded_store(home)
        stored = 0
        for size in sizes:
            added = size - stored
            seconds = _seed(db, version, added)
            stored = size
            entry: dict[str, Any] = {
                "runs": size,
                "seeded_now": added,
                "seed_s": round(seconds, 2),
                "seed_runs_per_s": round(added / seconds) if seconds > 0 else None,
            }
            with Server(home=home) as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
                yield entry, srv, client, version
        db.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def list_runs(
    sizes: tuple[int, ...] = (2000, 10_000, 100_000), requests: int = 100
) -> dict[str, Any]:
    """``GET /run/?page=1&page_size=10`` and the last full page, at each store size."""
    out: dict[str, Any] = {"params": {"sizes": list(sizes), "requests": requests}, "stores": []}
    for entry, srv, client, _ in growing_stores(sizes):
        entry["page1"] = timed_gets(
            client, "/run/", requests, _page_check(10), {"page": 1, "page_size": 10}
        )
        deep = entry["runs"] // 10
        entry["deep_page"] = deep
        entry["deep"] = timed_gets(
            client, "/run/", requests, _page_check(10), {"page": deep, "page_size": 10}
        )
        entry["server"] = srv.memory()
        out["stores"].append(entry)
    last = out["stores"][-1]
    out["median_ms"], out["p95_ms"] = last["page1"]["median_ms"], last["page1"]["p95_ms"]
    return out


@contextmanager
def seeded_server(seeded: int) -> Iterator[tuple[Server, httpx.Client]]:
    """A server on a temporary store holding ``seeded`` seeded runs, and a client of it."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-"))
    try:
        db, version = _seeded_store(home)
        _seed(db, version, seeded)
        db.close()
        with Server(home=home) as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
            yield srv, client
    finally:
        shutil.rmtree(home, ignore_errors=True)


def get_run(seeded: int = 10_000, requests: int = 100) -> dict[str, Any]:
    """``GET /run/{id}/`` of a 52-task run and of a 1,000-task run, among ``seeded`` runs."""
    out: dict[str, Any] = {"params": {"seeded": seeded, "requests": requests}}
    with seeded_server(seeded) as (srv, client):
        for label, n, kind in (("tasks_52", 50, "python"), ("tasks_1000", 998, "static")):
            definition, expect = chain(n, kind)
            wf_id = create_workflow(client, f"bench-{n}", definition)
            blocking_run(client, wf_id, 7, expect(7))
            runs, _ = call(client, "GET", f"/wf/{wf_id}/runs/")
            run_id = runs[0]["id"]

            def check(body: Any, run_id: str = run_id, tasks: int = n + 2) -> str | None:
                if body["id"] != run_id or body["status"] != "COMPLETED":
                    return f"run {body['id']} status {body['status']}"
                if len(body["tasks"]) != tasks:
                    return f"{len(body['tasks'])} tasks, expected {tasks}"
                return None

            out[label] = timed_gets(client, f"/run/{run_id}/", requests, check)
        out["server"] = srv.memory()
    out["median_ms"], out["p95_ms"] = out["tasks_1000"]["median_ms"], out["tasks_1000"]["p95_ms"]
    if out["tasks_52"].get("n") != requests:
        raise CheckFailed("GET /run/{id}/ of the 52-task run did not complete")
    return out
