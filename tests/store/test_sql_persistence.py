"""The engine on SqlPersistence behaves as on MemoryPersistence (STYLE habit 3): the
resume and skip/doom scenarios of tests/engine, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.engine._harness import CALLS, EVENTS, link, node

from spurline.engine.clock import now
from spurline.engine.executor import RunEngine
from spurline.engine.runs import new_run
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import node_types, parse_definition
from spurline.store import runs as q
from spurline.store import workflows as wf_q
from spurline.store.db import Database
from spurline.store.persistence import SqlPersistence

ALL_STATES = frozenset(TaskStatus)


@pytest.fixture(autouse=True)
def _fresh_harness() -> Iterator[None]:
    yield
    CALLS.clear()
    EVENTS.clear()


async def create(db: Database, definition: dict[str, Any]) -> tuple[RunEngine, str]:
    parsed = parse_definition(definition).dump()
    wf = await db.writer.arun(lambda c: wf_q.create_workflow(c, "w", None, parsed))
    engine = RunEngine(SqlPersistence(db), node_types())
    assert wf.current_version_id is not None
    plan = await engine.plan_for(wf.current_version_id)
    run, tasks = new_run(plan, wf.id, {})
    await engine.persistence.create_run(run, tasks)
    return engine, run.id


def test_resume_on_sql_skips_completed_and_reruns_in_flight(db: Database) -> None:
    definition = {
        "nodes": [node("in", "InputNode"), node("a"), node("b", "TestAsyncProbeNode"), node("c")],
        "links": [link("in", "a"), link("a", "b"), link("b", "c")],
    }

    async def scenario() -> None:
        engine, run_id = await create(db, definition)
        # What a process that died while running 'b' left behind.
        started = now() - timedelta(seconds=5)
        await engine.persistence.transition_run(
            run_id, frozenset({RunStatus.PENDING}), RunStatus.RUNNING
        )
        tasks = {t.node_id: t for t in db.read(lambda c: q.get_tasks(c, run_id))}
        for nid in ("in", "a"):
            tasks[nid].status, tasks[nid].start_time = TaskStatus.COMPLETED, started
            tasks[nid].end_time, tasks[nid].outputs = started, {"from": nid}
        tasks["b"].status, tasks["b"].start_time = TaskStatus.RUNNING, started
        await engine.persistence.save_tasks(list(tasks.values()), ALL_STATES)

        status = await RunEngine(SqlPersistence(db), node_types()).execute(run_id)

        assert status is RunStatus.COMPLETED
        assert dict(CALLS) == {"b": [{"a": {"from": "a"}}], "c": [{"b": {"ok": True}}]}
        final = {t.node_id: t for t in db.read(lambda c: q.get_tasks(c, run_id))}
        assert {n: t.status for n, t in final.items()} == dict.fromkeys(final, TaskStatus.COMPLETED)
        assert final["a"].start_time == started
        assert final["b"].start_time is not None and final["b"].start_time > started
        run = db.read(lambda c: q.get_run(c, run_id))
        assert run.end_time is not None and run.message is None

    asyncio.run(scenario())


def test_skip_and_doom_on_sql(db: Database) -> None:
    routes = {"yes": {"conditions": [{"variable": "in.x", "operator": "is_not_empty"}]}}
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("route", "RouterNode", route_map=routes),
            node("untaken"),
            node("bad", fail_times=1),
            node("after_bad"),
            node("fine"),
        ],
        "links": [
            link("in", "route"),
            link("route", "untaken", "yes"),
            link("in", "bad"),
            link("bad", "after_bad"),
            link("in", "fine"),
        ],
    }

    async def scenario() -> None:
        engine, run_id = await create(db, definition)
        assert await engine.execute(run_id) is RunStatus.FAILED
        final = {
            t.node_id: (t.status.value, t.error) for t in db.read(lambda c: q.get_tasks(c, run_id))
        }
        assert final == {
            "in": ("COMPLETED", None),
            "route": ("COMPLETED", None),
            "untaken": ("CANCELED", None),
            "bad": ("FAILED", "ValueError: probe failed (call 1)"),
            "after_bad": ("CANCELED", None),
            "fine": ("COMPLETED", None),
        }
        assert set(CALLS) == {"bad", "fine"}
        run = db.read(lambda c: q.get_run(c, run_id))
        assert run.message == "Node 'bad' failed: ValueError: probe failed (call 1)"

    asyncio.run(scenario())
