"""Child runs in bulk (docs/child-runs-and-batches.md): creating a chunk of children in one write,
reading
their states to resume, and reading their results in ``seq`` order page by page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select, update

from spurline.engine.children import ChildResult
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.states import RUN_ACTIVE, RunStatus, TaskStatus
from spurline.store import events
from spurline.store._rows import run_values, task_values
from spurline.store.orm import RUNS, TASKS


@dataclass(frozen=True)
class ChildState:
    """A child's id, position and status, as needed to resume its parent."""

    id: str
    seq: int
    status: RunStatus


def insert_children(
    conn: Connection, parent_id: str, children: Sequence[tuple[RunRecord, list[TaskRecord]]]
) -> bool:
    """Insert child runs and their tasks in two statements, only while the parent is
    RUNNING (so a cancel that won the race leaves no new children). Returns whether
    they were inserted.
    """
    status = conn.execute(select(RUNS.c.status).where(RUNS.c.id == parent_id)).scalar()
    if status != RunStatus.RUNNING.value:
        return False
    if not children:
        return True
    conn.execute(RUNS.insert(), [run_values(run) for run, _ in children])
    task_rows = [task_values(t) for _, tasks in children for t in tasks]
    if task_rows:
        conn.execute(TASKS.insert(), task_rows)
    for run, _ in children:
        events.remember_workflow(run.id, run.workflow_id)
        events.emit_run(conn, run.id, run.status.value, {"start_time": run.start_time})
    return True


def child_states(
    conn: Connection, parent_id: str, parent_task_id: str | None = None
) -> list[ChildState]:
    """Every child of ``parent_id`` (of one task of it, when given), in ``seq`` order."""
    where = [RUNS.c.parent_run_id == parent_id]
    if parent_task_id is not None:
        where.append(RUNS.c.parent_task_id == parent_task_id)
    rows = conn.execute(
        select(RUNS.c.id, RUNS.c.seq, RUNS.c.status).where(*where).order_by(RUNS.c.seq)
    )
    return [ChildState(r[0], r[1], RunStatus(r[2])) for r in rows]


def child_results(
    conn: Connection,
    parent_id: str,
    *,
    parent_task_id: str | None = None,
    seq_from: int = 0,
    limit: int = 1000,
) -> list[ChildResult]:
    """Children no longer PENDING/RUNNING with ``seq >= seq_from``, in ``seq`` order
    (a retried seq: oldest first), at most ``limit``, each with its OutputNode's
    output (without an OutputNode: ``{node_id: output}`` of its completed nodes); one
    query, two when some children's workflow has no OutputNode.
    """
    out_task = and_(TASKS.c.run_id == RUNS.c.id, TASKS.c.node_type == "OutputNode")
    where = [
        RUNS.c.parent_run_id == parent_id,
        RUNS.c.seq >= seq_from,
        RUNS.c.status.not_in([s.value for s in RUN_ACTIVE]),
    ]
    if parent_task_id is not None:
        where.append(RUNS.c.parent_task_id == parent_task_id)
    rows = conn.execute(
        select(RUNS.c.id, RUNS.c.seq, RUNS.c.status, RUNS.c.message, TASKS.c.id, TASKS.c.outputs)
        .select_from(RUNS.outerjoin(TASKS, out_task))
        .where(*where)
        .order_by(RUNS.c.seq, RUNS.c.id)
        .limit(limit)
    ).all()
    completed = RunStatus.COMPLETED.value
    without_output_node = [r[0] for r in rows if r[2] == completed and r[4] is None]
    every_output = _completed_outputs(conn, without_output_node)
    return [
        ChildResult(
            r[0],
            r[1],
            RunStatus(r[2]),
            (every_output.get(r[0], {}) if r[4] is None else (r[5] or {}))
            if r[2] == completed
            else None,
            r[3],
        )
        for r in rows
    ]


def _completed_outputs(conn: Connection, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {node_id: output}}`` of every completed task, for workflows without an
    OutputNode (what a blocking run returns, docs/runs-api.md#running)."""
    found: dict[str, dict[str, Any]] = {rid: {} for rid in run_ids}
    if run_ids:
        rows = conn.execute(
            select(TASKS.c.run_id, TASKS.c.node_id, TASKS.c.outputs)
            .where(TASKS.c.run_id.in_(run_ids), TASKS.c.status == TaskStatus.COMPLETED.value)
            .order_by(TASKS.c.run_id, TASKS.c.position)
        )
        for run_id, node_id, outputs in rows:
            found[run_id][node_id] = outputs
    return found


def set_progress(conn: Connection, parent_id: str, rows_done: int) -> bool:
    """Record a batch parent's finished rows; False when it is no longer RUNNING."""
    result = conn.execute(
        update(RUNS)
        .where(RUNS.c.id == parent_id, RUNS.c.status == RunStatus.RUNNING.value)
        .values(rows_done=rows_done)
    )
    if result.rowcount != 1:
        return False
    events.emit(conn, parent_id, events.BATCH, {"rows_done": rows_done})
    return True


def lineage(conn: Connection, run_id: str, limit: int) -> list[str]:
    """``run_id`` and its ancestors, parent first and the root run last, at most
    ``limit`` + 1 of them (docs/reliability.md#bounded-nesting)."""
    start = select(RUNS.c.id, RUNS.c.parent_run_id, literal(0).label("depth"))
    base = start.where(RUNS.c.id == run_id).cte("lineage", recursive=True)
    up = select(RUNS.c.id, RUNS.c.parent_run_id, (base.c.depth + 1).label("depth"))
    up = up.join(base, RUNS.c.id == base.c.parent_run_id).where(base.c.depth < limit)
    chain = base.union_all(up)
    rows = conn.execute(select(chain.c.id).order_by(chain.c.depth))
    return [r[0] for r in rows]


def tree_size(conn: Connection, root_id: str) -> int:
    """How many runs descend from ``root_id`` (children, theirs, ...), the root excluded
    (docs/reliability.md#bounded-nesting)."""
    tree = select(RUNS.c.id).where(RUNS.c.parent_run_id == root_id).cte("tree", recursive=True)
    tree = tree.union_all(select(RUNS.c.id).join(tree, RUNS.c.parent_run_id == tree.c.id))
    return int(conn.execute(select(func.count()).select_from(tree)).scalar_one())
