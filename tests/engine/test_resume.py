"""Resuming a run from its recorded tasks (SPEC §4.3): a process died mid-run, another
executes the run again; COMPLETED tasks are not executed again, in-flight ones are.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.engine._harness import CALLS, EVENTS, create, link, node, statuses

from spurline.engine.clock import now
from spurline.engine.executor import RunEngine
from spurline.engine.persistence import MemoryPersistence
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import node_types

CHAIN = {
    "nodes": [
        node("in", "InputNode"),
        node("a", output={"a": 1}),
        node("b", "TestAsyncProbeNode", output={"b": 2}),
        node("c"),
        node("side"),
    ],
    "links": [link("in", "a"), link("a", "b"), link("b", "c"), link("in", "side")],
}


def test_resume_skips_completed_and_reruns_in_flight_tasks() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        engine = RunEngine(store, node_types())
        run, _ = await create(store, engine, CHAIN)
        # What a process that died while running 'b' left behind.
        started = now() - timedelta(seconds=5)
        store.runs[run.id].status = RunStatus.RUNNING
        tasks = {t.node_id: t for t in store.tasks[run.id]}
        for nid, out in (("in", {}), ("a", {"a": 1}), ("side", {"ok": True})):
            t = tasks[nid]
            t.status, t.start_time, t.end_time, t.outputs = (
                TaskStatus.COMPLETED,
                started,
                started,
                out,
            )
        tasks["b"].status, tasks["b"].start_time = TaskStatus.RUNNING, started

        status = await RunEngine(store, node_types()).execute(run.id)

        assert status is RunStatus.COMPLETED
        assert set(CALLS) == {"b", "c"}
        assert CALLS["b"] == [{"a": {"a": 1}}]
        assert CALLS["c"] == [{"b": {"b": 2}}]
        final = {t.node_id: t for t in store.tasks[run.id]}
        assert {n: t.status for n, t in final.items()} == dict.fromkeys(final, TaskStatus.COMPLETED)
        # Completed tasks keep their recorded times; the rerun task got new ones.
        assert final["a"].start_time == started
        assert final["b"].start_time is not None and final["b"].start_time > started

    asyncio.run(scenario())


def test_resume_keeps_a_recorded_failure() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        engine = RunEngine(store, node_types())
        run, _ = await create(store, engine, CHAIN)
        at = now()
        store.runs[run.id].status = RunStatus.RUNNING
        tasks = {t.node_id: t for t in store.tasks[run.id]}
        tasks["in"].status, tasks["in"].outputs, tasks["in"].end_time = TaskStatus.COMPLETED, {}, at
        tasks["a"].status, tasks["a"].error, tasks["a"].end_time = (
            TaskStatus.FAILED,
            "ValueError: x",
            at,
        )
        tasks["b"].status, tasks["b"].end_time = TaskStatus.CANCELED, at

        status = await RunEngine(store, node_types()).execute(run.id)

        assert status is RunStatus.FAILED
        assert store.runs[run.id].message == "Node 'a' failed: ValueError: x"
        final = {t.node_id: t for t in store.tasks[run.id]}
        assert statuses(final) == {
            "in": ("COMPLETED", None),
            "a": ("FAILED", "ValueError: x"),
            "b": ("CANCELED", None),
            "c": ("CANCELED", None),  # doomed through the canceled 'b', not run
            "side": ("COMPLETED", None),
        }
        assert set(CALLS) == {"side"}

    asyncio.run(scenario())


def test_finished_run_is_left_alone() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        engine = RunEngine(store, node_types())
        run, _ = await create(store, engine, CHAIN)
        assert await engine.execute(run.id) is RunStatus.COMPLETED
        CALLS.clear()
        assert await engine.execute(run.id) is RunStatus.COMPLETED
        assert dict(CALLS) == {}

    asyncio.run(scenario())


def test_canceled_while_running_stops() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        engine = RunEngine(store, node_types())
        definition = {
            "nodes": [
                node("in", "InputNode"),
                node("slow", "TestAsyncProbeNode", wait_event="go"),
                # Not inline: the engine commits before starting it, and so sees the cancel.
                node("after", "TestAsyncProbeNode"),
            ],
            "links": [link("in", "slow"), link("slow", "after")],
        }
        run, _ = await create(store, engine, definition)
        execution = asyncio.create_task(engine.execute(run.id))
        while (
            store.runs[run.id].status is not RunStatus.RUNNING
            or not store.tasks[run.id][1].start_time
        ):
            await asyncio.sleep(0.001)
        assert store.cancel(run.id, now())
        EVENTS.setdefault("go", asyncio.Event()).set()
        assert await execution is RunStatus.CANCELED
        final = {t.node_id: t.status for t in store.tasks[run.id]}
        assert final == {
            "in": TaskStatus.COMPLETED,
            "slow": TaskStatus.CANCELED,
            "after": TaskStatus.CANCELED,
        }
        assert "after" not in CALLS

    asyncio.run(scenario())
