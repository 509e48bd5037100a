"""The engine's side of HumanInterventionNode (SPEC §5), on MemoryPersistence: what
pauses, what holds, and that a pause is written with its record or not at all."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.flows import human, links, node

from spurline.engine.clock import new_id, now
from spurline.engine.definition import definition_hash
from spurline.engine.executor import RunEngine
from spurline.engine.persistence import MemoryPersistence
from spurline.engine.plan import Plan
from spurline.engine.records import PauseRecord, TaskRecord, VersionRecord
from spurline.engine.runs import new_run
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import node_types, parse_definition


def _execute(
    definition: dict[str, Any], store: MemoryPersistence | None = None
) -> tuple[MemoryPersistence, str, RunStatus]:
    store = store or MemoryPersistence()
    clean = parse_definition(definition).dump()
    at = now()
    version = VersionRecord(new_id("V"), "W1", 1, "t", None, clean, definition_hash(clean), at, at)
    store.add_version(version)
    run, tasks = new_run(Plan.of(version, node_types()), "W1", {"in": {"x": 1}})
    engine = RunEngine(store, node_types())

    async def go() -> RunStatus:
        await store.create_run(run, tasks)
        return await engine.execute(run.id)

    return store, run.id, asyncio.run(go())


def _statuses(store: MemoryPersistence, run_id: str) -> dict[str, str]:
    return {t.node_id: t.status.value for t in store.tasks[run_id]}


def _static(nid: str) -> dict[str, Any]:
    return node(nid, "StaticValueNode", values={"v": nid})


def test_pause_only_blocks_dependants_by_default() -> None:
    store, run_id, status = _execute(
        {
            "nodes": [node("in", "InputNode"), human("gate", "Look"), _static("a"), _static("b")],
            "links": links(("in", "gate"), ("gate", "a"), ("in", "b")),
        }
    )
    assert status is RunStatus.PAUSED
    assert store.runs[run_id].message == "Look"
    assert _statuses(store, run_id) == {
        "in": "COMPLETED",
        "gate": "PAUSED",
        "a": "PENDING",
        "b": "COMPLETED",
    }
    [pause] = store.pauses
    assert (pause.run_id, pause.node_id, pause.pause_message) == (run_id, "gate", "Look")
    assert pause.input_data == {"In": {"x": 1}}
    assert pause.resume_time is None


def test_a_holding_pause_stops_nodes_that_are_not_started_yet() -> None:
    store, run_id, status = _execute(
        {
            "nodes": [
                node("in", "InputNode"),
                _static("before"),  # ready with the gate, earlier in order: runs
                human("gate", "Stop everything", block_only_dependent_nodes=False),
                _static("after"),  # ready with the gate, later in order: held
                _static("next"),
            ],
            "links": links(("in", "before"), ("in", "gate"), ("in", "after"), ("before", "next")),
        }
    )
    assert status is RunStatus.PAUSED
    assert _statuses(store, run_id) == {
        "in": "COMPLETED",
        "before": "COMPLETED",
        "gate": "PAUSED",
        "after": "PENDING",
        "next": "PENDING",
    }
    assert len(store.pauses) == 1


class _CanceledUnderfoot(MemoryPersistence):
    """A store whose run is canceled (by another process) just before the pause lands."""

    async def pause_task(
        self, task: TaskRecord, pause: PauseRecord, expect: frozenset[TaskStatus]
    ) -> bool:
        self.cancel(task.run_id, now())
        return await super().pause_task(task, pause, expect)


def test_a_pause_on_a_canceled_run_writes_neither_task_nor_record() -> None:
    store, run_id, status = _execute(
        {"nodes": [node("in", "InputNode"), human("gate", "Look")], "links": links(("in", "gate"))},
        _CanceledUnderfoot(),
    )
    assert status is RunStatus.CANCELED
    assert _statuses(store, run_id) == {"in": "COMPLETED", "gate": "CANCELED"}
    assert store.pauses == []
