"""Scenarios that execute workflows: blocking chains and fan-out over HTTP, blocking
throughput with concurrent clients, and the engine's own overhead in-process.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _measure import (
    CheckFailed,
    blocking_run,
    call,
    concurrent_blocking_runs,
    create_workflow,
    summary_ms,
)
from _server import Server
from _workflows import Expect, chain, fanout


def _check_recorded(client: httpx.Client, wf_id: str, runs: int, tasks: int) -> None:
    """The last ``runs`` runs of the workflow are COMPLETED with every task COMPLETED."""
    body, _ = call(client, "GET", f"/wf/{wf_id}/runs/", params={"page_size": min(runs, 100)})
    for run in body:
        done = [t for t in run["tasks"] if t["status"] == "COMPLETED"]
        if run["status"] != "COMPLETED" or len(run["tasks"]) != tasks or len(done) != tasks:
            raise CheckFailed(f"run {run['id']}: {run['status']}, {len(done)}/{tasks} tasks done")


def _blocking(definition: dict[str, Any], expect: Expect, tasks: int, runs: int) -> dict[str, Any]:
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
        wf_id = create_workflow(client, "bench", definition)
        for i in range(2):  # warm-up: imports, plan cache, pool start
            blocking_run(client, wf_id, 1000 + i, expect(1000 + i))
        cpu0 = srv.cpu()["server"]
        walls = [blocking_run(client, wf_id, i, expect(i)) for i in range(runs)]
        cpu_s = srv.cpu()["server"] - cpu0
        _check_recorded(client, wf_id, runs, tasks)
        out = summary_ms(walls)
        out["tasks_per_run"] = tasks
        out["per_node_ms"] = round(statistics.median(walls) * 1000 / tasks, 4)
        out["server_cpu_ms_per_run"] = round(cpu_s * 1000 / runs, 3)
        out["server"] = srv.memory()
        return out


def chain_static(n: int = 200, runs: int = 10) -> dict[str, Any]:
    """Blocking run of Input -> ``n`` StaticValueNodes -> Output (per-node cost of inline nodes)."""
    definition, expect = chain(n, "static")
    return {"params": {"n": n, "runs": runs}, **_blocking(definition, expect, n + 2, runs)}


def chain_python(n: int = 50, runs: int = 10) -> dict[str, Any]:
    """Blocking run of Input -> ``n`` PythonFuncNodes -> Output (one commit + pool call each)."""
    definition, expect = chain(n, "python")
    return {"params": {"n": n, "runs": runs}, **_blocking(definition, expect, n + 2, runs)}


def fanout_merge(width: int = 20, runs: int = 10) -> dict[str, Any]:
    """Blocking run of Input -> ``width`` python branches -> Merge -> python join -> Output."""
    definition, expect = fanout(width)
    return {
        "params": {"width": width, "runs": runs},
        **_blocking(definition, expect, width + 4, runs),
    }


def blocking_throughput(runs: int = 1000, clients: int = 4) -> dict[str, Any]:
    """Blocking runs/s of Input -> 1 PythonFuncNode -> Output from ``clients`` threads."""
    definition, expect = chain(1, "python")
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
        wf_id = create_workflow(client, "bench-fill", definition)
        blocking_run(client, wf_id, 0, expect(0))
        cpu0 = srv.cpu()
        latencies, errors, elapsed = concurrent_blocking_runs(srv.url, wf_id, runs, clients, expect)
        cpu1 = srv.cpu()
        if errors:
            raise CheckFailed(f"{len(errors)} of {runs} runs failed, e.g. {errors[0]}")
        _check_recorded(client, wf_id, 100, 3)
        return {
            "params": {"runs": runs, "clients": clients},
            "runs_per_s": round(runs / elapsed, 1),
            "elapsed_s": round(elapsed, 3),
            # CPU per run is steadier than runs/s on a shared machine
            "server_cpu_ms_per_run": round((cpu1["server"] - cpu0["server"]) * 1000 / runs, 3),
            "workers_cpu_ms_per_run": round((cpu1["workers"] - cpu0["workers"]) * 1000 / runs, 3),
            **summary_ms(latencies),
            "server": srv.memory(),
        }


async def _engine_runs(persistence: Any, version: Any, repeats: int) -> list[float]:
    from spurline.engine.executor import RunEngine
    from spurline.engine.runs import new_run
    from spurline.nodes.registry import node_types

    engine = RunEngine(persistence, node_types())
    plan = await engine.plan_for(version.id)
    times = []
    for i in range(repeats + 1):
        run, tasks = new_run(plan, version.workflow_id, {"input_node": {"v": i}})
        await persistence.create_run(run, tasks)
        t0 = time.perf_counter()
        status = await engine.execute(run.id)
        elapsed = time.perf_counter() - t0
        if status.value != "COMPLETED":
            raise CheckFailed(f"engine run {run.id} ended {status.value}")
        if i:  # the first run warms caches
            times.append(elapsed)
    return times


def engine_overhead(n: int = 200, repeats: int = 5) -> dict[str, Any]:
    """In-process ``RunEngine.execute`` of a ``n``-node StaticValue/Merge chain, per node.

    ``memory``: on MemoryPersistence (scheduling alone); ``sqlite``: on the real store
    (a temp SQLite file), which adds the group commits. Median of ``repeats`` runs.
    """
    from spurline.engine.clock import now
    from spurline.engine.persistence import MemoryPersistence
    from spurline.engine.records import VersionRecord
    from spurline.nodes.registry import parse_definition
    from spurline.store import workflows as wf_q
    from spurline.store.db import Database
    from spurline.store.persistence import SqlPersistence
    from spurline.store.versions import versions

    definition = parse_definition(chain(n, "static_merge")[0]).dump()
    tasks = n + 2
    out: dict[str, Any] = {"params": {"n": n, "repeats": repeats, "kind": "static_merge"}}

    memory = MemoryPersistence()
    at = now()
    version = VersionRecord("Vbench", "Wbench", 1, "bench", None, definition, "", at, at)
    memory.add_version(version)
    mem_times = asyncio.run(_engine_runs(memory, version, repeats))

    with tempfile.TemporaryDirectory(prefix="spurline-bench-") as home:
        db = Database(f"sqlite:///{Path(home) / 'spurline.db'}")
        try:
            db.upgrade()
            wf = db.writer.run(lambda c: wf_q.create_workflow(c, "bench", None, definition))
            vid = wf.current_version_id or ""
            stored = db.read(lambda c: versions.get(c, vid))
            sql_times = asyncio.run(_engine_runs(SqlPersistence(db), stored, repeats))
        finally:
            db.close()
    for name, times in (("memory", mem_times), ("sqlite", sql_times)):
        med = statistics.median(times)
        out[name] = {**summary_ms(times), "per_node_us": round(med * 1e6 / tasks, 1)}
    out["median_ms"] = out["sqlite"]["median_ms"]
    out["p95_ms"] = out["sqlite"]["p95_ms"]
    out["per_node_ms"] = round(out["sqlite"]["per_node_us"] / 1000, 4)
    return out
