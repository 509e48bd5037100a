"""RunResponseSchema values derived at read time (SPEC §2.1): percentage_complete,
duration, is_downstream_of_pause, error only on FAILED tasks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spurline.engine.graph import Graph
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.engine.views import (
    downstream_of_pause,
    duration_s,
    percentage_complete,
    run_view,
    task_view,
)
from spurline.nodes.registry import parse_definition

T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def run_(status: RunStatus, **fields: object) -> RunRecord:
    return RunRecord("R1", "W1", "V1", status, T0, **fields)  # type: ignore[arg-type]


def tasks_(*statuses: TaskStatus) -> list[TaskRecord]:
    return [TaskRecord(f"T{i}", "R1", f"n{i}", "X", i, s) for i, s in enumerate(statuses)]


C, P, F, X, R = (
    TaskStatus.COMPLETED,
    TaskStatus.PENDING,
    TaskStatus.FAILED,
    TaskStatus.CANCELED,
    TaskStatus.RUNNING,
)


@pytest.mark.parametrize(
    ("status", "tasks", "expected"),
    [
        (RunStatus.COMPLETED, [C, C, C], 100.0),
        (RunStatus.COMPLETED, [C, X, X], 100.0),  # skipped branches do not hold it back
        (RunStatus.COMPLETED, [], 100.0),
        (RunStatus.PENDING, [P, P, P], 0.0),
        (RunStatus.RUNNING, [C, R, P], 33.33),
        (RunStatus.RUNNING, [C, C, P], 66.67),
        (RunStatus.RUNNING, [C, C, C], 99.99),  # all done, run not marked yet: not 100
        (RunStatus.FAILED, [C, F, X, C], 50.0),
        (RunStatus.CANCELED, [C, X, X], 33.33),
        (RunStatus.RUNNING, [], 0.0),  # no division by zero
        (RunStatus.FAILED, [], 0.0),
    ],
)
def test_percentage_complete(status: RunStatus, tasks: list[TaskStatus], expected: float) -> None:
    assert percentage_complete(run_(status), tasks_(*tasks)) == expected


@pytest.mark.parametrize(
    ("status", "rows_total", "rows_done", "expected"),
    [
        (RunStatus.RUNNING, 0, 0, 0.0),
        (RunStatus.RUNNING, 3, 1, 33.33),
        (RunStatus.RUNNING, 3, 3, 99.99),
        (RunStatus.RUNNING, 3, 7, 99.99),  # a miscount never shows more than 100
        (RunStatus.COMPLETED, 3, 3, 100.0),
        (RunStatus.PAUSED, 8, 2, 25.0),
    ],
)
def test_percentage_of_batch_parents_counts_rows(
    status: RunStatus, rows_total: int, rows_done: int, expected: float
) -> None:
    run = run_(status, rows_total=rows_total, rows_done=rows_done)
    assert percentage_complete(run, tasks_(C, C)) == expected


def test_percentage_is_bounded_for_any_task_count() -> None:
    for n in range(1, 60):
        for done in range(n + 1):
            tasks = tasks_(*([C] * done + [P] * (n - done)))
            pct = percentage_complete(run_(RunStatus.RUNNING), tasks)
            assert 0.0 <= pct < 100.0
            assert pct == min(round(100 * done / n, 2), 99.99)


def test_duration() -> None:
    later = T0 + timedelta(seconds=2.5)
    assert duration_s(run_(RunStatus.PENDING), later) is None
    assert duration_s(run_(RunStatus.RUNNING), later) == 2.5
    assert duration_s(run_(RunStatus.PAUSED), later) == 2.5
    ended = run_(RunStatus.COMPLETED, end_time=T0 + timedelta(seconds=1.25))
    assert duration_s(ended, later) == 1.25
    # A clock that stepped backwards never gives a negative duration.
    assert duration_s(run_(RunStatus.RUNNING), T0 - timedelta(seconds=1)) == 0.0
    skewed = run_(RunStatus.FAILED, end_time=T0 - timedelta(seconds=1))
    assert duration_s(skewed, later) == 0.0


def test_error_is_shown_only_on_failed_tasks() -> None:
    failed, canceled = tasks_(F, X)
    failed.error = canceled.error = "ValueError: x"
    assert task_view(failed)["error"] == "ValueError: x"
    assert task_view(canceled)["error"] is None


def test_downstream_of_pause() -> None:
    definition = parse_definition(
        {
            "nodes": [
                {"id": "in", "node_type": "InputNode"},
                {"id": "gate", "node_type": "MergeNode"},
                {"id": "after", "node_type": "MergeNode"},
                {"id": "later", "node_type": "MergeNode"},
                {"id": "side", "node_type": "MergeNode"},
            ],
            "links": [
                {"source_id": "in", "target_id": "gate"},
                {"source_id": "gate", "target_id": "after"},
                {"source_id": "after", "target_id": "later"},
                {"source_id": "in", "target_id": "side"},
            ],
        }
    )
    graph = Graph.of(definition)
    tasks = [
        TaskRecord("T0", "R1", "in", "InputNode", 0, C),
        TaskRecord("T1", "R1", "gate", "MergeNode", 1, TaskStatus.PAUSED),
        TaskRecord("T2", "R1", "after", "MergeNode", 2, P),
        TaskRecord("T3", "R1", "later", "MergeNode", 3, P),
        TaskRecord("T4", "R1", "side", "MergeNode", 4, P),
    ]
    assert downstream_of_pause(tasks, graph) == {"after", "later"}
    view = run_view(run_(RunStatus.PAUSED), tasks, None, T0, graph)
    assert [t["is_downstream_of_pause"] for t in view["tasks"]] == [False, False, True, True, False]
    tasks[1].status = C
    assert downstream_of_pause(tasks, graph) == set()


def test_run_view_outputs_only_completed_tasks() -> None:
    tasks = tasks_(C, F, X)
    tasks[0].outputs = {"a": 1}
    tasks[1].outputs = {"partial": True}
    view = run_view(run_(RunStatus.FAILED, end_time=T0), tasks, None, T0)
    assert view["outputs"] == {"n0": {"a": 1}}
    assert run_view(run_(RunStatus.PENDING), tasks_(P), None, T0)["outputs"] is None
