"""Pause actions, pause history, paused runs and retries (docs/runs-api.md#pause-cancel-retry).

Every operation here runs inside one write transaction and starts from a
conditional update of the run's status (PAUSED -> RUNNING/CANCELED, FAILED ->
RUNNING), so of two racing requests exactly one changes anything; the other
finds the run no longer in the expected state and gets :class:`Conflict`,
and the transaction (the loser's only) rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from spurline.engine.pauses import PauseAction, choose_paused_task, decline_message, resolved_output
from spurline.engine.records import PauseRecord, RunSnapshot
from spurline.engine.states import RunStatus, TaskStatus
from spurline.exceptions import Conflict
from spurline.store import leases
from spurline.store import runs as run_q
from spurline.store._rows import PAUSE_COLS, RUN_COLS, pause_record, run_record
from spurline.store.orm import PAUSES, RUNS, TASKS
from spurline.store.workflows import WorkflowRecord, get_workflow


@dataclass(frozen=True)
class PauseDecision:
    """A person's decision on a paused run (body of ``process_pause_action``)."""

    action: PauseAction
    user_id: str
    inputs: dict[str, Any]
    comments: str | None = None
    node_id: str | None = None


@dataclass(frozen=True)
class Claim:
    """The process that will execute the run next, and for how long its lease lasts."""

    owner: str
    at: datetime
    lease_s: float


def _not_in(conn: Connection, run_id: str, wanted: RunStatus) -> Conflict:
    status = run_q.get_run(conn, run_id).status  # NotFound for an unknown run
    return Conflict(f"Run {run_id} is {status.value}, not {wanted.value}")


def resolve_pause(
    conn: Connection, run_id: str, decision: PauseDecision, claim: Claim
) -> list[str]:
    """Apply APPROVE / OVERRIDE / DECLINE to a PAUSED run (docs/runs-api.md#pause-cancel-retry).

    APPROVE and OVERRIDE complete the paused task with
    :func:`~spurline.engine.pauses.resolved_output` and set the run RUNNING under
    ``claim``'s lease (the caller then executes it); DECLINE cancels the run, its
    unfinished tasks and its children. The pause record gets the resume fields.

    Returns:
        The ids of the runs canceled (DECLINE), else ``[]``.

    Raises:
        NotFound: unknown run.
        Conflict: the run is not PAUSED (also for the loser of two racing actions),
            the node is not paused, or several are and ``node_id`` is missing.
    """
    run = run_q.get_run(conn, run_id)
    if run.status is not RunStatus.PAUSED:
        raise _not_in(conn, run_id, RunStatus.PAUSED)
    task = choose_paused_task(run_id, run_q.get_tasks(conn, run_id), decision.node_id)
    at = claim.at
    if decision.action is PauseAction.DECLINE:
        message = decline_message(decision.user_id, task.node_id, decision.comments)
        changes: dict[str, Any] = {"end_time": at, "message": message}
        target = RunStatus.CANCELED
    else:
        changes = {"message": None, **leases.lease_values(claim.owner, at, claim.lease_s)}
        target = RunStatus.RUNNING
    if not run_q.transition_run(conn, run_id, frozenset({RunStatus.PAUSED}), target, changes):
        raise _not_in(conn, run_id, RunStatus.PAUSED)
    canceled: list[str] = []
    if target is RunStatus.CANCELED:
        canceled = run_q.cancel_tree(conn, [run_id], at)
    else:
        output = resolved_output(decision.action, task.inputs, decision.inputs)
        run_q.emit_task_changes(
            conn,
            update(TASKS)
            .where(TASKS.c.id == task.id, TASKS.c.status == TaskStatus.PAUSED.value)
            .values(status=TaskStatus.COMPLETED.value, end_time=at, outputs=output, error=None),
        )
    conn.execute(
        update(PAUSES)
        .where(
            PAUSES.c.run_id == run_id,
            PAUSES.c.node_id == task.node_id,
            PAUSES.c.resume_time.is_(None),
        )
        .values(
            resume_time=at,
            resume_user_id=decision.user_id,
            resume_action=decision.action.value,
            comments=decision.comments,
        )
    )
    return canceled


def retry_run(conn: Connection, run_id: str, claim: Claim, retried_by: str | None = None) -> int:
    """Set a FAILED or CANCELED run RUNNING under ``claim``'s lease with its FAILED and
    CANCELED tasks PENDING again; COMPLETED tasks keep their outputs
    (docs/runs-api.md#pause-cancel-retry, docs/operations.md). ``retried_by`` is who
    asked (docs/security.md §4).

    Returns the number of tasks that will execute again.

    Raises:
        NotFound: unknown run.
        Conflict: the run is not FAILED or CANCELED (also for the loser of two racing
            retries), or
            it is a batch parent or a child its parent resumes (retry the parent).
    """
    run = run_q.get_run(conn, run_id)
    if run.rows_total is not None:
        raise Conflict(f"Run {run_id} is a batch run; retrying a batch run is not supported")
    if run.parent_run_id is not None and (run.parent_task_id or run.run_type == "batch"):
        raise Conflict(f"Run {run_id} is a child run; retry its parent {run.parent_run_id}")
    changes = {
        "end_time": None,
        "message": None,
        "retried_by": retried_by,
        # a retried CANCELED run is no longer canceled: a later cancel names its own actor
        "canceled_by": None,
        **leases.lease_values(claim.owner, claim.at, claim.lease_s),
    }
    retryable = frozenset({RunStatus.FAILED, RunStatus.CANCELED})
    if not run_q.transition_run(conn, run_id, retryable, RunStatus.RUNNING, changes):
        status = run_q.get_run(conn, run_id).status  # NotFound for an unknown run
        raise Conflict(f"Run {run_id} is {status.value}, not FAILED or CANCELED")
    # attempts is kept: the next try continues the numbering, and the attempts
    # already stored stay (docs/observability.md)
    return run_q.emit_task_changes(
        conn,
        update(TASKS)
        .where(
            TASKS.c.run_id == run_id,
            TASKS.c.status.in_([TaskStatus.FAILED.value, TaskStatus.CANCELED.value]),
        )
        .values(
            status=TaskStatus.PENDING.value,
            start_time=None,
            end_time=None,
            inputs=None,
            outputs=None,
            error=None,
            traceback=None,
            ready_time=None,
        ),
    )


def pause_history(conn: Connection, run_id: str) -> list[PauseRecord]:
    """Every pause of a run, newest first; NotFound for an unknown run."""
    run_q.get_run(conn, run_id)
    rows = conn.execute(
        select(*PAUSE_COLS)
        .where(PAUSES.c.run_id == run_id)
        .order_by(PAUSES.c.pause_time.desc(), PAUSES.c.id.desc())
    )
    return [pause_record(r) for r in rows]


@dataclass(frozen=True)
class PausedRun:
    """A PAUSED run with its newest unresolved pause and its workflow."""

    snapshot: RunSnapshot
    current_pause: PauseRecord | None
    workflow: WorkflowRecord


def paused_runs(conn: Connection, page: int, page_size: int) -> tuple[list[PausedRun], int]:
    """One page of PAUSED runs, most recently paused first, and their total count."""
    last_pause = (
        select(PAUSES.c.run_id, func.max(PAUSES.c.pause_time).label("paused_at"))
        .where(PAUSES.c.resume_time.is_(None))
        .group_by(PAUSES.c.run_id)
        .subquery()
    )
    paused = RUNS.c.status == RunStatus.PAUSED.value
    total = conn.execute(select(func.count()).select_from(RUNS).where(paused)).scalar_one()
    rows = conn.execute(
        select(*RUN_COLS)
        .select_from(RUNS.outerjoin(last_pause, last_pause.c.run_id == RUNS.c.id))
        .where(paused)
        .order_by(func.coalesce(last_pause.c.paused_at, RUNS.c.start_time).desc(), RUNS.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    snaps = run_q.snapshots(conn, [run_record(r) for r in rows])
    ids = [s.run.id for s in snaps]
    current: dict[str, PauseRecord] = {}
    for row in conn.execute(
        select(*PAUSE_COLS)
        .where(PAUSES.c.run_id.in_(ids), PAUSES.c.resume_time.is_(None))
        .order_by(PAUSES.c.pause_time, PAUSES.c.id)
    ):
        pause = pause_record(row)
        current[pause.run_id] = pause  # ascending order: the newest one stays
    workflows = {wid: get_workflow(conn, wid) for wid in {s.run.workflow_id for s in snaps}}
    items = [PausedRun(s, current.get(s.run.id), workflows[s.run.workflow_id]) for s in snaps]
    return items, total
