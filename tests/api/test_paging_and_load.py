"""Listing and load on a fresh store (issue 2): runs with equal start_time page without
duplicates or gaps; 100 concurrent start_run requests all complete (SQLite, and
PostgreSQL when configured).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.api._contract import link, node, py, wait_for
from tests.conftest import LiveServer

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store import runs as run_queries

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


# -- 100 concurrent start_run --------------------------------------------------------


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
    assert [r.status_code for r in responses] == [200] * 100
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
