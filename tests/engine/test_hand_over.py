"""RunEngine.hand_over: a run created in this process starts from the records it was
created with, without reading them back, and still honours what the store says.
"""

from __future__ import annotations

import asyncio

from tests.engine._harness import CALLS, create, link, node, statuses

from spurline.engine.clock import now
from spurline.engine.executor import RunEngine
from spurline.engine.persistence import MemoryPersistence
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import node_types

CHAIN = {
    "nodes": [node("in", "InputNode"), node("a"), node("out", "OutputNode")],
    "links": [link("in", "a"), link("a", "out")],
}


class CountingStore(MemoryPersistence):
    """Counts load_run calls."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load_run(self, run_id: str):  # type: ignore[no-untyped-def]
        self.loads += 1
        return await super().load_run(run_id)


def test_handed_over_run_executes_without_reading_it_back() -> None:
    async def go() -> tuple[RunStatus, int, dict[str, tuple[str, str | None]], str]:
        store = CountingStore()
        engine = RunEngine(store, node_types())
        run, tasks = await create(store, engine, CHAIN)
        engine.hand_over(run, tasks)
        status = await engine.execute(run.id)
        loads = store.loads
        _, stored = await store.load_run(run.id)
        return status, loads, statuses({t.node_id: t for t in stored}), tasks[1].status.value

    status, loads, stored, callers_copy = asyncio.run(go())

    assert (status, loads) == (RunStatus.COMPLETED, 0)
    assert stored == {
        "in": ("COMPLETED", None),
        "a": ("COMPLETED", None),
        "out": ("COMPLETED", None),
    }
    assert callers_copy == "PENDING"  # the caller's records are not the engine's


def test_run_canceled_after_hand_over_is_not_executed() -> None:
    async def go() -> tuple[RunStatus, list[TaskStatus]]:
        store = MemoryPersistence()
        engine = RunEngine(store, node_types())
        run, tasks = await create(store, engine, CHAIN)
        engine.hand_over(run, tasks)
        store.cancel(run.id, now())
        status = await engine.execute(run.id)
        _, stored = await store.load_run(run.id)
        return status, [t.status for t in stored]

    status, stored = asyncio.run(go())

    assert status is RunStatus.CANCELED
    assert stored == [TaskStatus.CANCELED] * 3
    assert CALLS["a"] == []
