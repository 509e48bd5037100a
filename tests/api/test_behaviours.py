"""Behaviours other engines get wrong (issue 2), each proven over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.api._contract import (
    assert_still_serving,
    link,
    node,
    one_step,
    py,
    start,
    wait_for,
    wait_run,
)
from tests.conftest import LiveServer

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store import runs as run_queries


def appender(log_file: Path, label: str) -> str:
    """Code that appends one line to ``log_file`` per call and returns its inputs' titles."""
    return (
        "import pathlib\n"
        f"with open({str(log_file)!r}, 'a') as f:\n"
        f"    f.write({label!r} + '\\n')\n"
        "return {'saw': sorted(input_model.keys())}"
    )


def test_node_with_several_parents_runs_once_after_all(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    calls = tmp_path / "calls.log"
    sleepy = "import time\ntime.sleep({s})\nreturn {{'slept': {s}}}"
    definition = {
        "nodes": [
            node("in", "InputNode", "In"),
            py(sleepy.format(s=0.3), "slow", "Slow"),
            py(sleepy.format(s=0.0), "fast", "Fast"),
            node("static", "StaticValueNode", "Static", values={"v": 1}),
            py(appender(calls, "join"), "join", "Join"),
        ],
        "links": [
            link("in", "slow"),
            link("in", "fast"),
            link("in", "static"),
            link("slow", "join"),
            link("fast", "join"),
            link("static", "join"),
            link("in", "join"),
        ],
    }
    run = wait_run(client, start(client, make_workflow(definition)))
    assert run["status"] == "COMPLETED"
    assert calls.read_text() == "join\n"
    tasks = {t["node_id"]: t for t in run["tasks"]}
    assert tasks["join"]["inputs"] == {
        "In": {},
        "Slow": {"slept": 0.3},
        "Fast": {"slept": 0.0},
        "Static": {"v": 1},
    }
    assert tasks["join"]["outputs"] == {"saw": ["Fast", "In", "Slow", "Static"]}
    parents_end = max(tasks[p]["end_time"] for p in ("in", "slow", "fast", "static"))
    assert tasks["join"]["start_time"] >= parents_end


# -- a GET never writes ---------------------------------------------------------------


def rows_digest(server: LiveServer) -> str:
    """A digest of every row of every run/workflow table. On PostgreSQL each row's
    ``xmin`` is included, which changes even when an UPDATE rewrites identical values.
    """
    db = server.runtime.db
    tables = ["workflows", "workflow_versions", "runs", "tasks", "pause_records"]
    xmin = "xmin::text, " if db.dialect == "postgresql" else ""
    digest = hashlib.sha256()
    with db.read_engine.connect() as conn:
        for table in tables:
            for row in conn.execute(text(f"SELECT {xmin}* FROM {table} ORDER BY id")):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_get_never_writes(
    server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(one_step("return {'x': 1}"))
    run_ids = [start(client, wf_id) for _ in range(3)]
    for run_id in run_ids:
        wait_run(client, run_id)
    paths = [
        "/run/",
        "/run",
        "/run/?page=1&page_size=100&status=COMPLETED&parent_only=true",
        "/wf/",
        f"/wf/{wf_id}/",
        f"/wf/{wf_id}/versions/",
        f"/wf/{wf_id}/runs/",
        "/run/RNOPE/",
        "/openapi.json",
    ]
    for run_id in run_ids:
        paths += [f"/run/{run_id}/", f"/run/{run_id}/status/", f"/run/{run_id}/tasks/"]
        paths += [f"/run/{run_id}/children/"]
    # SQLite bumps data_version for a connection whenever another one commits a change.
    watcher = None
    if server.runtime.db.dialect == "sqlite":
        path = server.settings.resolved_database_url().removeprefix("sqlite:///")
        watcher = sqlite3.connect(path)
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
    before = rows_digest(server)
    for _ in range(10):
        for path in paths:
            expected = 404 if "NOPE" in path else 200
            assert client.get(path).status_code == expected, path
    assert rows_digest(server) == before
    if watcher is not None:
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
        watcher.close()


# -- paging with equal start times ----------------------------------------------------


def test_equal_start_times_page_without_duplicates_or_gaps(
    server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    version_id = client.get(f"/wf/{wf_id}/versions/").json()[0]["id"]
    same = now().replace(microsecond=0)
    times = [same] * 17 + [same - timedelta(seconds=1)] * 4 + [same + timedelta(seconds=1)] * 2
    records = []
    for i, start_time in enumerate(times):
        run = RunRecord(
            id=new_id("R"),
            workflow_id=wf_id,
            workflow_version_id=version_id,
            status=RunStatus.COMPLETED,
            start_time=start_time,
            end_time=start_time + timedelta(seconds=2),
            initial_inputs={"in": {"i": i}},
        )
        task = TaskRecord(new_id("T"), run.id, "in", "InputNode", 0, TaskStatus.COMPLETED)
        records.append((run, [task]))
    # Insert in an order that is neither id order nor its reverse.
    for run, tasks in records[::2] + records[1::2]:
        server.runtime.db.writer.run(lambda c, r=run, t=tasks: run_queries.insert_run(c, r, t))
    expected = [r.id for r, _ in sorted(records, key=lambda rt: (rt[0].start_time, rt[0].id))]
    expected.reverse()
    for page_size in (1, 4, 5, 10, 23, 100):
        seen: list[str] = []
        page = 1
        while True:
            r = client.get("/run/", params={"page": page, "page_size": page_size})
            assert r.status_code == 200
            assert r.headers["x-total-count"] == str(len(records))
            if not r.json():
                break
            seen += [run["id"] for run in r.json()]
            page += 1
        assert seen == expected, page_size
    by_workflow = client.get(f"/wf/{wf_id}/runs/", params={"page_size": 100}).json()
    assert [run["id"] for run in by_workflow] == expected


# -- percentage_complete --------------------------------------------------------------


def test_percentage_never_exceeds_100_nor_reaches_it_early(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    step = "import time\ntime.sleep(0.05)\nreturn {'i': 1}"
    nodes = [node("in", "InputNode")] + [py(step, f"s{i}") for i in range(6)]
    links = [link("in", "s0")] + [link(f"s{i}", f"s{i + 1}") for i in range(5)]
    run_id = start(client, make_workflow({"nodes": nodes, "links": links}))
    observed: list[tuple[str, float]] = []
    while True:
        run = client.get(f"/run/{run_id}/").json()
        observed.append((run["status"], run["percentage_complete"]))
        if run["status"] in ("COMPLETED", "FAILED"):
            break
    assert observed[-1] == ("COMPLETED", 100.0)
    for status, pct in observed:
        assert 0.0 <= pct <= 100.0
        assert (pct == 100.0) == (status == "COMPLETED")
    percentages = [pct for _, pct in observed]
    assert percentages == sorted(percentages)
    # Intermediate values are k of 7 tasks, rounded to 2 decimals; in the instant
    # between the last task's commit and the run's, 7 of 7 shows as 99.99, not 100.
    assert set(percentages) <= {round(100 * k / 7, 2) for k in range(7)} | {99.99, 100.0}


# -- 100 concurrent start_run on SQLite --------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])
def test_hundred_concurrent_start_runs_all_complete(
    server: LiveServer,
    client: httpx.Client,
    make_workflow: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    wf_id = make_workflow(
        {
            "nodes": [
                node("in", "InputNode", output_schema={"i": "int"}),
                node("s", "StaticValueNode", values={"k": "v"}),
                py("return {'i': input_model['in'].i}", "p"),
                node("out", "OutputNode"),
            ],
            "links": [link("in", "s"), link("in", "p"), link("s", "out"), link("p", "out")],
        }
    )

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as ac:
            posts = [
                ac.post(f"/wf/{wf_id}/start_run/", json={"initial_inputs": {"in": {"i": i}}})
                for i in range(100)
            ]
            return await asyncio.gather(*posts)

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [202] * 100
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 100

    def all_done() -> bool:
        r = client.get("/run/", params={"page_size": 1, "status": ["PENDING", "RUNNING"]})
        return r.headers["x-total-count"] == "0"

    wait_for(all_done, deadline_s=120, what="100 runs to finish")
    runs: list[dict[str, Any]] = []
    for page in (1, 2):
        runs += client.get("/run/", params={"page": page, "page_size": 50}).json()
    assert {r["id"] for r in runs} == ids
    assert {r["status"] for r in runs} == {"COMPLETED"}
    assert sorted(r["outputs"]["p"]["i"] for r in runs) == list(range(100))
    assert [r["message"] for r in runs] == [None] * 100
    problems = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert problems == []
    assert not any("locked" in m for m in caplog.messages)


# -- a runaway node -----------------------------------------------------------------------


def test_runaway_code_times_out_and_the_server_stays_fine(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(one_step("while True:\n    pass", timeout_s=0.5))
    run = wait_run(client, start(client, wf_id), deadline_s=30)
    assert run["status"] == "FAILED"
    error = "TimeoutError: the code ran longer than 0.5 s"
    assert run["tasks"][1]["error"] == error
    assert run["message"] == f"Node 'p' failed: {error}"
    assert_still_serving(client, make_workflow)
