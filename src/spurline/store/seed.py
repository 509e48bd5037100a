"""Bulk-loading finished runs straight into the store, for benchmarks and load tests.

Filling a store with 100,000 runs through the HTTP API takes minutes; these
inserts take seconds, because rows go to the database in large ``executemany``
batches without running any node. The rows are what a COMPLETED run of the
version leaves behind (one COMPLETED task per top-level node, in topological
order), so list and read endpoints see ordinary runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from spurline.engine.clock import new_id, now
from spurline.engine.definition import WorkflowDefinition
from spurline.engine.graph import Graph
from spurline.engine.records import RunRecord, TaskRecord, VersionRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store._rows import run_values, task_values
from spurline.store.orm import RUNS, TASKS


def completed_run(
    version: VersionRecord, graph: Graph, start: datetime, inputs: dict[str, Any]
) -> tuple[RunRecord, list[TaskRecord]]:
    """A COMPLETED run of ``version`` started at ``start`` with ``inputs`` for its InputNode.

    Tasks take one millisecond each, one after the other, in topological order; the
    InputNode outputs ``inputs``, every other node ``{"after": previous node id}``.
    """
    run_id = new_id("R")
    input_id = next(n for n in graph.order if graph.nodes[n].node_type == "InputNode")
    tasks: list[TaskRecord] = []
    at = start
    for position, nid in enumerate(graph.order):
        end = at + timedelta(milliseconds=1)
        payload = inputs if nid == input_id else {"after": graph.order[position - 1]}
        tasks.append(
            TaskRecord(
                id=new_id("T"),
                run_id=run_id,
                node_id=nid,
                node_type=graph.nodes[nid].node_type,
                position=position,
                status=TaskStatus.COMPLETED,
                start_time=at,
                end_time=end,
                inputs=payload,
                outputs=payload,
                attempts=1,
            )
        )
        at = end
    run = RunRecord(
        id=run_id,
        workflow_id=version.workflow_id,
        workflow_version_id=version.id,
        status=RunStatus.COMPLETED,
        start_time=start,
        end_time=at,
        initial_inputs={input_id: inputs},
    )
    return run, tasks


def _batches(
    version: VersionRecord, count: int, batch: int, spacing: timedelta, first: datetime
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    graph = Graph.of(WorkflowDefinition.model_validate(version.definition))
    runs: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    for i in range(count):
        run, run_tasks = completed_run(version, graph, first + i * spacing, {"v": i})
        runs.append(run_values(run))
        tasks.extend(task_values(t) for t in run_tasks)
        if len(runs) >= batch:
            yield runs, tasks
            runs, tasks = [], []
    if runs:
        yield runs, tasks


def seed_runs(
    conn: Connection,
    version: VersionRecord,
    count: int,
    *,
    batch: int = 2000,
    spacing: timedelta = timedelta(milliseconds=10),
    until: datetime | None = None,
) -> int:
    """Insert ``count`` COMPLETED runs of ``version`` (with their tasks); returns ``count``.

    Run ``i`` has initial inputs ``{input: {"v": i}}`` and starts ``spacing`` after run
    ``i - 1``; the last one starts ``spacing`` before ``until`` (default: now), so
    seeded runs sort before runs made afterwards. Rows are inserted ``batch`` runs at
    a time inside the caller's transaction.
    """
    if count <= 0:
        return 0
    first = (until or now()) - count * spacing
    for runs, tasks in _batches(version, count, batch, spacing, first):
        conn.execute(RUNS.insert(), runs)
        conn.execute(TASKS.insert(), tasks)
    return count
