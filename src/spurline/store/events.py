"""The run event stream in the store: writing events with the changes they describe,
reading them back in order (docs/observability.md).

Store functions that change a run or a task call :func:`emit` on their connection;
the writer (:class:`~spurline.store.db.WriteQueue`) inserts what was emitted with
:func:`flush` as the last statement of the same transaction, so an event exists
exactly when its change was committed. Event ids grow in commit order: SQLite has
one writer at a time, and on PostgreSQL the insert happens under a transaction-level
advisory lock held until the commit, so no transaction can commit a smaller id after
a reader saw a bigger one. A ``NOTIFY spurline_events`` in the same transaction
tells every listening process (:mod:`spurline.services.events`) to read the new events;
its payload says which runs and kinds they are (:data:`Hint`), so a process whose
subscribers want none of them skips the read.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, func, select

from spurline.engine.clock import now
from spurline.engine.records import (
    AttemptRecord,
    AttemptTally,
    LogLine,
    TaskRecord,
    tally_attempts,
)
from spurline.engine.states import TaskStatus
from spurline.store._raw import db_time, executemany, placeholders
from spurline.store.orm import ATTEMPTS, EVENTS, RUNS

CHANNEL = "spurline_events"
_PENDING = "spurline.events"
# Any constant: the key of the advisory lock that orders event inserts on PostgreSQL.
_LOCK_KEY = 0x5350524C

# Event kinds (the SSE ``event:`` field).
RUN, TASK, ATTEMPT, LOG, BATCH = "run", "task", "attempt", "log", "batch"

# What one commit wrote, for the hubs to decide whether to read it:
# (run id, workflow id, kind) of its events, each once.
Hint = tuple[str, str, str]
# PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more; past this, an empty
# payload ("read to know") is sent.
_MAX_PAYLOAD = 7900

# run id -> workflow id; immutable pairs, so a bounded cache is always right. Sized
# for the runs one process executes at once: a batch of 100,000 rows passes through
# it, and at 65,536 entries it held ~15 MB of the server's memory.
_WORKFLOWS_KEPT = 8192
_workflows: OrderedDict[str, str] = OrderedDict()


@dataclass(frozen=True)
class Event:
    """One stored event. ``data`` is the JSON object sent to SSE clients."""

    id: int
    run_id: str
    workflow_id: str
    kind: str
    task_id: str | None
    node_id: str | None
    attempt: int | None
    time: datetime
    data: dict[str, Any]


def remember_workflow(run_id: str, workflow_id: str) -> None:
    """Note a run's workflow (saves a read when the run's events are written)."""
    # interned: the rows of one workflow share its id instead of a copy per row read
    _workflows[run_id] = sys.intern(workflow_id)
    if len(_workflows) > _WORKFLOWS_KEPT:
        _workflows.popitem(last=False)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def emit(
    conn: Connection,
    run_id: str,
    kind: str,
    data: dict[str, Any],
    *,
    task_id: str | None = None,
    node_id: str | None = None,
    attempt: int | None = None,
    at: datetime | None = None,
) -> None:
    """Queue an event on ``conn``'s transaction; :func:`flush` writes it at commit."""
    pending: list[dict[str, Any]] = conn.info.setdefault(_PENDING, [])
    pending.append(
        {
            "run_id": run_id,
            "workflow_id": _workflows.get(run_id),
            "kind": kind,
            "task_id": task_id,
            "node_id": node_id,
            "attempt": attempt,
            "time": at or now(),
            "data": {"run_id": run_id, **data},
        }
    )


def emit_run(conn: Connection, run_id: str, status: str, changes: dict[str, Any]) -> None:
    """A run state change: ``status`` plus the changed message/start/end time."""
    data: dict[str, Any] = {"status": status}
    for key in ("message", "start_time", "end_time", "rows_done", "rows_total"):
        if key in changes:
            value = changes[key]
            data[key] = _iso(value) if isinstance(value, datetime) else value
    emit(conn, run_id, RUN, data)


def task_data(task: TaskRecord) -> dict[str, Any]:
    """The ``data`` of a task event."""
    return {
        "task_id": task.id,
        "node_id": task.node_id,
        "status": task.status.value,
        "attempt": task.attempts,
        "ready_time": _iso(task.ready_time),
        "start_time": _iso(task.start_time),
        "end_time": _iso(task.end_time),
        "error": task.error,
    }


def emit_tasks(conn: Connection, tasks: Iterable[TaskRecord]) -> None:
    """A task event per task (its state as written)."""
    for t in tasks:
        emit(
            conn, t.run_id, TASK, task_data(t), task_id=t.id, node_id=t.node_id, attempt=t.attempts
        )


def attempt_data(a: AttemptRecord) -> dict[str, Any]:
    """The ``data`` of an attempt event, and an attempt's JSON in the API."""
    return {
        "id": a.id,
        "task_id": a.task_id,
        "node_id": a.node_id,
        "number": a.number,
        "status": a.status.value,
        "ready_time": _iso(a.ready_time),
        "start_time": _iso(a.start_time),
        "end_time": _iso(a.end_time),
        "error": a.error,
        "traceback": a.traceback,
        "started_by": a.started_by,
    }


def insert_attempts(conn: Connection, attempts: list[AttemptRecord]) -> None:
    """Store finished attempts, each with its log lines' events and an attempt event."""
    if not attempts:
        return
    pg = conn.dialect.name == "postgresql"
    rows = [
        (
            a.id,
            a.task_id,
            a.run_id,
            a.node_id,
            a.number,
            a.status.value,
            db_time(a.ready_time, pg),
            db_time(a.start_time, pg),
            db_time(a.end_time, pg),
            a.error,
            a.traceback,
            a.started_by,
        )
        for a in attempts
    ]
    executemany(conn, _sql_insert_attempts(pg), rows)
    for a in attempts:
        emit_logs(conn, a.run_id, a.task_id, a.node_id, a.number, a.logs)
        data = attempt_data(a)
        del data["traceback"]  # long; read it from the attempts endpoint
        emit(conn, a.run_id, ATTEMPT, data, task_id=a.task_id, node_id=a.node_id, attempt=a.number)


def emit_logs(
    conn: Connection, run_id: str, task_id: str, node_id: str, attempt: int, lines: list[LogLine]
) -> None:
    """A log event per captured line of one attempt."""
    for ln in lines:
        emit(
            conn,
            run_id,
            LOG,
            {
                "task_id": task_id,
                "node_id": node_id,
                "attempt": attempt,
                "time": _iso(ln.time),
                "stream": ln.stream,
                "level": ln.level,
                "line": ln.line,
            },
            task_id=task_id,
            node_id=node_id,
            attempt=attempt,
            at=ln.time,
        )


def discard(conn: Connection) -> None:
    """Forget events queued on ``conn`` (its transaction was rolled back)."""
    conn.info.pop(_PENDING, None)


def flush(conn: Connection) -> list[Hint]:
    """Insert the events queued on ``conn`` (the last step of its transaction).

    Returns the :data:`Hint` of what was written (empty when nothing was).
    """
    pending: list[dict[str, Any]] | None = conn.info.pop(_PENDING, None)
    if not pending:
        return []
    missing = {e["run_id"] for e in pending if e["workflow_id"] is None}
    if missing:
        # a local map: more runs than the cache keeps may be missing at once
        found: dict[str, str] = {}
        for rid, wid in conn.execute(
            select(RUNS.c.id, RUNS.c.workflow_id).where(RUNS.c.id.in_(missing))
        ):
            remember_workflow(rid, wid)
            found[rid] = wid
        # a deleted run's events: none
        pending = [e for e in pending if e["workflow_id"] is not None or e["run_id"] in found]
        for e in pending:
            if e["workflow_id"] is None:
                e["workflow_id"] = found[e["run_id"]]
    pg = conn.dialect.name == "postgresql"
    rows = [
        (
            e["run_id"],
            e["workflow_id"],
            e["kind"],
            e["task_id"],
            e["node_id"],
            e["attempt"],
            db_time(e["time"], pg),
            orjson.dumps(_stored_data(e)).decode(),
        )
        for e in pending
    ]
    hints = list(dict.fromkeys((e["run_id"], e["workflow_id"], e["kind"]) for e in pending))
    if pg:
        # one round trip for both: the notification leaves at commit whatever its place
        conn.exec_driver_sql(_LOCK_AND_NOTIFY, (_LOCK_KEY, CHANNEL, encode_hints(hints)))
    executemany(conn, placeholders(_INSERT_EVENTS, pg), rows)
    return hints


# Kinds whose data always names the task (docs/observability.md): its ids are columns.
_OF_TASK = frozenset({TASK, ATTEMPT, LOG})
# Kinds whose ``attempt`` data field is the ``attempt`` column.
_ATTEMPT_IN_COLUMN = frozenset({TASK, LOG})
_NONE = object()  # a missing field (None is a value)


def _stored_data(e: dict[str, Any]) -> dict[str, Any]:
    """What an event's ``data`` column holds: its data less the fields its own columns
    already hold (run, task and node id; a task or log event's attempt; a log line's
    time), ~100 of the ~290 bytes of a task event. :func:`_full_data` puts them back,
    so readers see the data as emitted."""
    data = dict(e["data"])
    del data["run_id"]
    kind = e["kind"]
    if kind not in _OF_TASK:
        return data
    if (
        e["task_id"] is not None
        and data.get("task_id", _NONE) == e["task_id"]
        and data.get("node_id", _NONE) == e["node_id"]
    ):
        del data["task_id"], data["node_id"]
    if kind in _ATTEMPT_IN_COLUMN and data.get("attempt", _NONE) == e["attempt"]:
        del data["attempt"]
    if kind == LOG and data.get("time", _NONE) == _iso(e["time"]):
        del data["time"]
    return data


def _full_data(
    kind: str,
    ids: tuple[str, str | None, str | None, int | None],
    at: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    """An event's data as emitted, from its stored form (see :func:`_stored_data`);
    ``ids``: its run id, task id, node id and attempt columns. Rows written before
    that form (``run_id`` in their data) are already whole."""
    if "run_id" in data:
        return data
    run_id, task_id, node_id, attempt = ids
    out: dict[str, Any] = {"run_id": run_id}
    if kind in _OF_TASK:
        if task_id is not None and "task_id" not in data:
            out["task_id"], out["node_id"] = task_id, node_id
        if kind in _ATTEMPT_IN_COLUMN and "attempt" not in data:
            out["attempt"] = attempt
        if kind == LOG and "time" not in data:
            out["time"] = _iso(at)
    out.update(data)
    return out


def _event(row: Any) -> Event:
    eid, run_id, workflow_id, kind, task_id, node_id, attempt, at, data = row
    full = _full_data(kind, (run_id, task_id, node_id, attempt), at, data)
    return Event(eid, run_id, workflow_id, kind, task_id, node_id, attempt, at, full)


def encode_hints(hints: list[Hint]) -> str:
    """The NOTIFY payload of ``hints``: JSON, or ``""`` (unknown) when too long."""
    payload = orjson.dumps(hints).decode()
    return payload if len(payload) <= _MAX_PAYLOAD else ""


def decode_hints(payload: str) -> list[Hint] | None:
    """The hints of a NOTIFY payload; None when it names none (read to know)."""
    if not payload:
        return None
    try:
        return [(str(r), str(w), str(k)) for r, w, k in orjson.loads(payload)]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


# Events and attempts are written on every node step: plain driver statements skip
# the ORM-level work per statement and per row (compiling, type processing), which
# cost more than the inserts themselves. Values are converted here as the column
# types would (UtcDateTime, JSON).
_EVENT_NAMES = ("run_id", "workflow_id", "kind", "task_id", "node_id", "attempt", "time", "data")
_INSERT_EVENTS = (
    f"INSERT INTO run_events ({', '.join(_EVENT_NAMES)}) VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, "
    "{}, {}, {json})"
)
# the order of insert_attempts' row tuples
_ATTEMPT_NAMES = (
    "id",
    "task_id",
    "run_id",
    "node_id",
    "number",
    "status",
    "ready_time",
    "start_time",
    "end_time",
    "error",
    "traceback",
    "started_by",
)
_INSERT_ATTEMPTS = (
    f"INSERT INTO task_attempts ({', '.join(_ATTEMPT_NAMES)}) "
    f"VALUES ({', '.join('{}' for _ in _ATTEMPT_NAMES)})"
)
_LOCK_AND_NOTIFY = "SELECT pg_advisory_xact_lock(%s), pg_notify(%s, %s)"


@lru_cache(maxsize=2)
def _sql_insert_attempts(pg: bool) -> str:
    return placeholders(_INSERT_ATTEMPTS, pg)


_EVENT_COLS = list(EVENTS.c)


def read(
    conn: Connection,
    after: int,
    *,
    run_id: str | None = None,
    workflow_id: str | None = None,
    kinds: tuple[str, ...] = (),
    node_id: str | None = None,
    attempt: int | None = None,
    limit: int = 1000,
) -> list[Event]:
    """Events with ``id > after`` in id (commit) order, filtered, at most ``limit``."""
    query = select(*_EVENT_COLS).where(EVENTS.c.id > after)
    if run_id is not None:
        query = query.where(EVENTS.c.run_id == run_id)
    if workflow_id is not None:
        query = query.where(EVENTS.c.workflow_id == workflow_id)
    if kinds:
        query = query.where(EVENTS.c.kind.in_(kinds))
    if node_id is not None:
        query = query.where(EVENTS.c.node_id == node_id)
    if attempt is not None:
        query = query.where(EVENTS.c.attempt == attempt)
    return [_event(row) for row in conn.execute(query.order_by(EVENTS.c.id).limit(limit))]


def last_id(conn: Connection) -> int:
    """The newest event id (0 when there is none)."""
    return int(conn.execute(select(func.coalesce(func.max(EVENTS.c.id), 0))).scalar_one())


def _log_filter(run_id: str, node_id: str | None, attempt: int | None) -> list[ColumnElement[bool]]:
    out = [EVENTS.c.run_id == run_id, EVENTS.c.kind == LOG]
    if node_id is not None:
        out.append(EVENTS.c.node_id == node_id)
    if attempt is not None:
        out.append(EVENTS.c.attempt == attempt)
    return out


def count_logs(conn: Connection, run_id: str, node_id: str | None, attempt: int | None) -> int:
    """How many log lines of a run match (for paging headers)."""
    query = select(func.count()).select_from(EVENTS).where(*_log_filter(run_id, node_id, attempt))
    return int(conn.execute(query).scalar_one())


def read_logs(
    conn: Connection,
    run_id: str,
    node_id: str | None,
    attempt: int | None,
    page: int,
    page_size: int,
) -> list[Event]:
    """One page of a run's log lines, oldest first."""
    query = (
        select(*_EVENT_COLS)
        .where(*_log_filter(run_id, node_id, attempt))
        .order_by(EVENTS.c.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [_event(row) for row in conn.execute(query)]


def attempts_of(conn: Connection, task_id: str) -> list[AttemptRecord]:
    """A task's stored attempts, oldest first."""
    rows = conn.execute(
        select(ATTEMPTS).where(ATTEMPTS.c.task_id == task_id).order_by(ATTEMPTS.c.number)
    )
    return [_attempt(row) for row in rows]


def attempt_tallies(conn: Connection, task_ids: list[str]) -> dict[str, AttemptTally]:
    """The :class:`~spurline.engine.records.AttemptTally` of each task of ``task_ids``
    that has stored attempts (docs/reliability.md#poison-runs)."""
    if not task_ids:
        return {}
    rows = conn.execute(
        select(ATTEMPTS.c.task_id, ATTEMPTS.c.number, ATTEMPTS.c.error).where(
            ATTEMPTS.c.task_id.in_(task_ids)
        )
    )
    by_task: dict[str, list[tuple[int, str | None]]] = {}
    for task_id, number, error in rows:
        by_task.setdefault(task_id, []).append((number, error))
    return {tid: tally_attempts(found) for tid, found in by_task.items()}


def attempts_by_task(conn: Connection, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored attempt of a run (as :func:`attempt_data`), by task id, oldest first."""
    rows = conn.execute(
        select(ATTEMPTS)
        .where(ATTEMPTS.c.run_id == run_id)
        .order_by(ATTEMPTS.c.task_id, ATTEMPTS.c.number)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.task_id, []).append(attempt_data(_attempt(row)))
    return out


def _attempt(row: Any) -> AttemptRecord:
    data = row._asdict()
    data["status"] = TaskStatus(data["status"])
    return AttemptRecord(**data)


def running_attempt_view(task: TaskRecord) -> dict[str, Any]:
    """AttemptResponseSchema of the try a RUNNING task is making (stored when it ends)."""
    return {
        "id": None,
        "task_id": task.id,
        "node_id": task.node_id,
        "number": task.attempts,
        "status": task.status.value,
        "ready_time": _iso(task.ready_time),
        "start_time": _iso(task.start_time),
        "end_time": None,
        "error": None,
        "traceback": None,
        "started_by": None,
    }
