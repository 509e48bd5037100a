"""GET /run/{id}/children/ of a 10,000-row batch answers in a bounded number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from tests.conftest import LiveServer, make_settings

from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.runs import new_run
from spurline.engine.states import RunStatus
from spurline.store import children as child_q
from spurline.store import runs as run_q

ROWS = 10_000
ADD = {
    "nodes": [
        {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
        {
            "id": "add",
            "title": "Add",
            "node_type": "PythonFuncNode",
            "config": {"code": "return {}"},
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "add"}, {"source_id": "add", "target_id": "out"}],
}


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def quiet_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose lease watcher stays asleep (it also looks for released leases
    every control poll) and that runs no scheduler, so every query counted is the
    request's."""
    settings, cleanup = make_settings(tmp_path, lease_s=3600, control_poll_s=3600, scheduler=False)
    try:
        with LiveServer(settings) as srv:
            yield srv
    finally:
        cleanup()


def test_children_of_a_big_batch_take_a_fixed_number_of_queries(
    quiet_server: LiveServer,
) -> None:
    server = quiet_server
    client = httpx.Client(base_url=server.url, timeout=120)
    wf = client.post("/wf/", json={"name": "add", "definition": ADD}).json()["id"]
    rt = server.runtime
    plan = _plan(server, wf)
    parent, _ = new_run(plan, wf, {}, run_type="batch")
    # RUNNING and leased by someone else, so this server leaves it alone
    parent.status, parent.lease_owner = RunStatus.RUNNING, "elsewhere"
    parent.lease_expires_at = parent.start_time + timedelta(hours=1)
    rt.db.writer.run(lambda c: run_q.insert_run(c, parent, []))
    children: list[tuple[RunRecord, list[TaskRecord]]] = [
        new_run(plan, wf, {"in": {"v": i}}, parent_run_id=parent.id, run_type="batch", seq=i)
        for i in range(ROWS)
    ]
    for start in range(0, ROWS, 2000):
        chunk = children[start : start + 2000]
        assert rt.db.writer.run(lambda c, chunk=chunk: child_q.insert_children(c, parent.id, chunk))

    with count_queries(rt.db.read_engine) as queries:
        r = client.get(f"/run/{parent.id}/children/")
    assert r.status_code == 200
    got = r.json()
    assert len(got) == ROWS
    assert [c["initial_inputs"]["in"]["v"] for c in got[:3]] == [0, 1, 2]
    assert {len(c["tasks"]) for c in got} == {3}
    assert r.headers["X-Total-Count"] == str(ROWS)
    # the run, the count, the children, all their tasks (the version is cached)
    assert len(queries) <= 5, queries

    with count_queries(rt.db.read_engine) as queries:
        page = client.get(f"/run/{parent.id}/children/", params={"page": 50, "page_size": 100})
    assert [c["initial_inputs"]["in"]["v"] for c in page.json()] == list(range(4900, 5000))
    assert len(queries) <= 5, queries
    client.close()


def _plan(server: LiveServer, workflow_id: str) -> Any:
    import asyncio

    from spurline.store import workflows as wf_q

    rt = server.runtime
    wf = rt.db.read(lambda c: wf_q.get_workflow(c, workflow_id))
    loop = rt._background[0].get_loop()
    return asyncio.run_coroutine_threadsafe(
        rt.engine.plan_for(wf.current_version_id), loop
    ).result()
