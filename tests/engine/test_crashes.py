"""Poison runs (docs/reliability.md#poison-runs): a task left RUNNING by a process that
died counts a crash; after ``max_crashes`` in a row it ends FAILED instead of running
again. An attempt a shutting-down process stored as interrupted is no crash.
"""

from __future__ import annotations

import asyncio

from tests.engine._harness import CALLS, create, link, node

from spurline.engine.clock import new_id, now
from spurline.engine.executor import RunEngine
from spurline.engine.persistence import MemoryPersistence
from spurline.engine.records import (
    CRASHED_ERROR,
    INTERRUPTED_ERROR,
    AttemptRecord,
    tally_attempts,
)
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import node_types

CHAIN = {
    "nodes": [node("in", "InputNode"), node("a", "TestAsyncProbeNode"), node("b")],
    "links": [link("in", "a"), link("a", "b")],
}
# 'a' hangs until its execution is canceled: a stand-in for a node that kills its process
HANGS = {
    "nodes": [node("in", "InputNode"), node("a", "TestAsyncProbeNode", wait_event="never")],
    "links": [link("in", "a")],
}


async def _died_during_a(store: MemoryPersistence, run_id: str) -> None:
    """What a process that died while executing 'a' leaves: 'a' RUNNING, one more try."""
    store.runs[run_id].status = RunStatus.RUNNING
    for t in store.tasks[run_id]:
        if t.node_id == "in":
            t.status, t.outputs = TaskStatus.COMPLETED, {}
        if t.node_id == "a":
            t.status, t.start_time, t.ready_time = TaskStatus.RUNNING, now(), now()
            t.attempts += 1


async def _crash_while_a_runs(store: MemoryPersistence, run_id: str) -> None:
    """Execute the run until 'a' runs again, then stop as a killed process would:
    without writing anything."""

    def a_try() -> int:
        return next(t.attempts for t in store.tasks[run_id] if t.node_id == "a")

    before = a_try()
    execution = asyncio.create_task(RunEngine(store, node_types()).execute(run_id))
    while a_try() == before:  # stored RUNNING with one more try before the node starts
        assert not execution.done(), execution.result()
        await asyncio.sleep(0.005)
    execution.cancel()
    await asyncio.gather(execution, return_exceptions=True)


def _attempts(store: MemoryPersistence, node_id: str) -> list[tuple[int, str | None, str]]:
    return [(a.number, a.error, a.started_by) for a in store.attempts if a.node_id == node_id]


def test_third_crash_fails_the_task_and_the_run_goes_on_by_its_rules() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        run, _ = await create(store, RunEngine(store, node_types()), HANGS)
        await _died_during_a(store, run.id)  # crash 1
        await _crash_while_a_runs(store, run.id)  # crash 2
        await _crash_while_a_runs(store, run.id)  # crash 3
        status = await RunEngine(store, node_types(), max_crashes=3).execute(run.id)

        assert status is RunStatus.FAILED
        a = next(t for t in store.tasks[run.id] if t.node_id == "a")
        assert a.status is TaskStatus.FAILED
        assert a.attempts == 3
        assert a.error is not None
        assert a.error.startswith("NodeCrashed: the node crashed its executor 3 times")
        assert store.runs[run.id].message == f"Node 'a' failed: {a.error}"
        attempts = _attempts(store, "a")
        assert [n for n, _, _ in attempts] == [1, 2, 3]
        assert [e for _, e, _ in attempts[:2]] == [CRASHED_ERROR] * 2
        assert attempts[2][1] == a.error
        assert [s for _, _, s in attempts] == ["run", "takeover", "takeover"]

    asyncio.run(scenario())


def test_after_a_crash_the_task_runs_again_and_what_follows_it_too() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        run, _ = await create(store, RunEngine(store, node_types()), CHAIN)
        await _died_during_a(store, run.id)
        CALLS.clear()

        status = await RunEngine(store, node_types(), max_crashes=3).execute(run.id)

        assert status is RunStatus.COMPLETED
        assert set(CALLS) == {"a", "b"}
        assert _attempts(store, "a") == [(1, CRASHED_ERROR, "run"), (2, None, "takeover")]

    asyncio.run(scenario())


def test_an_interrupted_attempt_is_no_crash() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        run, _ = await create(store, RunEngine(store, node_types()), CHAIN)
        await _died_during_a(store, run.id)
        a = next(t for t in store.tasks[run.id] if t.node_id == "a")
        # the shutting-down process stored attempt 1 as interrupted and left 'a' RUNNING
        store.attempts.append(
            AttemptRecord(new_id("A"), a.id, run.id, "a", 1, TaskStatus.FAILED, now(), now(),
                          now(), INTERRUPTED_ERROR, started_by="run")
        )  # fmt: skip

        status = await RunEngine(store, node_types(), max_crashes=1).execute(run.id)

        assert status is RunStatus.COMPLETED
        assert _attempts(store, "a") == [
            (1, INTERRUPTED_ERROR, "run"),
            (2, None, "takeover"),
        ]

    asyncio.run(scenario())


def test_max_crashes_one_fails_at_the_first_crash() -> None:
    async def scenario() -> None:
        store = MemoryPersistence()
        run, _ = await create(store, RunEngine(store, node_types()), CHAIN)
        await _died_during_a(store, run.id)

        status = await RunEngine(store, node_types(), max_crashes=1).execute(run.id)

        assert status is RunStatus.FAILED
        a = next(t for t in store.tasks[run.id] if t.node_id == "a")
        assert a.error is not None and "crashed its executor 1 times" in a.error

    asyncio.run(scenario())


def test_tally_counts_the_newest_crashes_in_a_row() -> None:
    limit_error = "NodeCrashed: the node crashed its executor 3 times"
    assert tally_attempts([]) == (0, 0)
    assert tally_attempts([(2, CRASHED_ERROR), (1, CRASHED_ERROR)]) == (2, 2)
    # an attempt that ended otherwise (here a normal failure) ends the streak
    assert tally_attempts([(1, CRASHED_ERROR), (2, "ValueError: x"), (3, CRASHED_ERROR)]) == (3, 1)
    # the crash that failed the task ends it too: a run retry starts a new count
    assert tally_attempts([(3, limit_error), (4, CRASHED_ERROR)]) == (4, 1)
    assert tally_attempts([(1, INTERRUPTED_ERROR)]) == (1, 0)


def test_suspects_run_alone_so_a_sibling_is_not_charged_again() -> None:
    two = {
        "nodes": [
            node("in", "InputNode"),
            node("a", "TestAsyncProbeNode", wait_event="never"),
            node("b", "TestAsyncProbeNode", wait_event="never"),
        ],
        "links": [link("in", "a"), link("in", "b")],
    }

    async def scenario() -> None:
        store = MemoryPersistence()
        run, _ = await create(store, RunEngine(store, node_types()), two)
        await _died_during_a(store, run.id)
        b = next(t for t in store.tasks[run.id] if t.node_id == "b")
        b.status, b.attempts = TaskStatus.RUNNING, 1  # in flight too at the crash
        execution = asyncio.create_task(RunEngine(store, node_types()).execute(run.id))
        stored = {t.node_id: t for t in store.tasks[run.id]}
        while stored["a"].attempts + stored["b"].attempts < 3:
            await asyncio.sleep(0.005)
            stored = {t.node_id: t for t in store.tasks[run.id]}
        await asyncio.sleep(0.05)
        stored = {t.node_id: t for t in store.tasks[run.id]}
        # one suspect runs again; the other waits, still RUNNING from the crash
        assert sorted([stored["a"].attempts, stored["b"].attempts]) == [1, 2]
        execution.cancel()  # a second crash, with only the first suspect in flight
        await asyncio.gather(execution, return_exceptions=True)
        tallies = await store.attempt_tallies([stored["a"].id, stored["b"].id])

        first = "a" if stored["a"].attempts == 2 else "b"
        other = "b" if first == "a" else "a"
        assert tallies[stored[first].id] == (1, 1)  # its second try is the one in flight
        assert tallies[stored[other].id] == (1, 1)  # not in flight: not charged again

        # next life: the likelier culprit (2 crashes) runs alone first, then crashes again
        execution = asyncio.create_task(RunEngine(store, node_types()).execute(run.id))
        while next(t for t in store.tasks[run.id] if t.node_id == first).attempts < 3:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        execution.cancel()
        await asyncio.gather(execution, return_exceptions=True)
        tallies = await store.attempt_tallies([stored["a"].id, stored["b"].id])
        assert tallies[stored[first].id] == (2, 2)
        assert tallies[stored[other].id] == (1, 1)

    asyncio.run(scenario())
