"""The one hook on committed run status changes (see docs/operations.md).

Every run status change the engine, the API or the CLI makes goes through
:func:`spurline.store.runs.transition_run`; when it applies, it calls
:func:`after_transition` inside the same transaction. That queues the notification
webhooks of the event (the outbox rows commit or roll back with the change) and
tells this process's listeners (the Prometheus metrics) about it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from spurline.engine.records import TaskRecord
from spurline.engine.states import RunStatus
from spurline.store import notifications
from spurline.store._raw import fetchall, placeholders

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunEvent:
    """A run status change that committed (or is committing) in this process.

    ``first_start`` is True when the run became RUNNING before any of its tasks
    started: the end of its wait in the queue.
    """

    run_id: str
    workflow_id: str
    parent_run_id: str | None
    status: RunStatus
    at: datetime
    start_time: datetime
    first_start: bool


RunListener = Callable[[RunEvent], None]
TaskListener = Callable[[list[TaskRecord]], None]

#: Called with each applied run status change, inside the writer's transaction: keep
#: them quick; an exception is logged and ignored.
run_listeners: list[RunListener] = []
#: Called with the tasks each conditional task write stored.
task_listeners: list[TaskListener] = []


class RunRow(NamedTuple):
    """The run's columns the hook needs, as they are after the change: the status
    change's UPDATE returns them (no second read of the row)."""

    id: str
    workflow_id: str
    parent_run_id: str | None
    run_type: str
    start_time: datetime
    end_time: datetime | None
    message: str | None


_ANY_TASK_STARTED = "SELECT id FROM tasks WHERE run_id = {} AND start_time IS NOT NULL LIMIT 1"


def after_transition(conn: Connection, row: RunRow, status: RunStatus, at: datetime) -> None:
    """Queue the notifications of ``status`` and tell the listeners (see module doc)."""
    run = row._asdict()
    run_id = run["id"]
    if status in notifications.NOTIFIED_STATUSES and run["parent_run_id"] is None:
        del run["parent_run_id"]
        notifications.enqueue(conn, run, status, at)
    if not run_listeners:
        return
    pg = conn.dialect.name == "postgresql"
    first_start = status is RunStatus.RUNNING and not fetchall(
        conn, placeholders(_ANY_TASK_STARTED, pg), (run_id,)
    )
    event = RunEvent(
        run_id, row.workflow_id, row.parent_run_id, status, at, row.start_time, first_start
    )
    for listener in run_listeners:
        try:
            listener(event)
        except Exception:  # a metric must never undo a run's state change
            log.exception("run event listener failed")


def tasks_saved(tasks: list[TaskRecord]) -> None:
    """Tell the task listeners about tasks just written."""
    for listener in task_listeners:
        try:
            listener(tasks)
        except Exception:
            log.exception("task listener failed")
