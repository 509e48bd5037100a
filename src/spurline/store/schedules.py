"""Schedules and webhook triggers in the store (docs/operations.md).

A fire is claimed with a conditional update, ``UPDATE schedules SET next_run_at =
:next WHERE id = :id AND enabled AND next_run_at = :due``, in the transaction that
inserts the fire's run: of any number of processes that see the same due fire,
exactly one changes the row and starts the run; the others change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from spurline.engine.records import RunRecord, TaskRecord
from spurline.exceptions import NotFound
from spurline.store import starts
from spurline.store.orm import SCHEDULES, TRIGGERS


@dataclass
class ScheduleRecord:
    """A stored schedule: exactly one of ``cron_expression`` / ``interval_seconds`` is set."""

    id: str
    workflow_id: str
    name: str
    cron_expression: str | None
    interval_seconds: int | None
    timezone: str
    initial_inputs: dict[str, Any] | None
    tags: list[str] | None
    run_metadata: dict[str, Any] | None
    enabled: bool
    misfire_policy: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_id: str | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class TriggerRecord:
    """A stored webhook trigger; ``secret_hash`` is the SHA-256 of its secret."""

    id: str
    workflow_id: str
    name: str
    secret_hash: str
    tags: list[str] | None
    run_metadata: dict[str, Any] | None
    created_at: datetime
    last_used_at: datetime | None


_SCHEDULE_NAMES = [f.name for f in fields(ScheduleRecord)]
_TRIGGER_NAMES = [f.name for f in fields(TriggerRecord)]


def _schedule(row: Any) -> ScheduleRecord:
    return ScheduleRecord(**{n: getattr(row, n) for n in _SCHEDULE_NAMES})


def _values(record: ScheduleRecord | TriggerRecord) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


# -- schedules --------------------------------------------------------------------


def insert_schedule(conn: Connection, schedule: ScheduleRecord) -> None:
    """Insert a new schedule."""
    conn.execute(SCHEDULES.insert().values(_values(schedule)))


def get_schedule(conn: Connection, schedule_id: str) -> ScheduleRecord:
    """One schedule; NotFound when absent."""
    row = conn.execute(select(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).first()
    if row is None:
        raise NotFound("Schedule", schedule_id)
    return _schedule(row)


def list_schedules(
    conn: Connection, page: int, page_size: int, workflow_id: str | None = None
) -> tuple[list[ScheduleRecord], int]:
    """One page of schedules, newest first, and their total."""
    where = [SCHEDULES.c.workflow_id == workflow_id] if workflow_id else []
    total = conn.execute(select(func.count()).select_from(SCHEDULES).where(*where)).scalar_one()
    rows = conn.execute(
        select(SCHEDULES)
        .where(*where)
        .order_by(SCHEDULES.c.created_at.desc(), SCHEDULES.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [_schedule(r) for r in rows], int(total)


def replace_schedule(conn: Connection, schedule: ScheduleRecord) -> None:
    """Write every field of an existing schedule; NotFound when it is gone."""
    values = _values(schedule)
    del values["id"], values["created_at"]
    result = conn.execute(update(SCHEDULES).where(SCHEDULES.c.id == schedule.id).values(values))
    if result.rowcount != 1:
        raise NotFound("Schedule", schedule.id)


def delete_schedule(conn: Connection, schedule_id: str) -> None:
    """Delete a schedule (its runs stay and keep naming it); NotFound when absent."""
    if conn.execute(delete(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).rowcount != 1:
        raise NotFound("Schedule", schedule_id)


def due_schedules(
    conn: Connection, at: datetime, limit: int = 100
) -> tuple[list[ScheduleRecord], datetime | None]:
    """Enabled schedules whose next fire time is at or before ``at`` (earliest first),
    and the earliest next fire time of any enabled schedule."""
    rows = conn.execute(
        select(SCHEDULES)
        .where(SCHEDULES.c.enabled.is_(True), SCHEDULES.c.next_run_at <= at)
        .order_by(SCHEDULES.c.next_run_at)
        .limit(limit)
    )
    due = [_schedule(r) for r in rows]
    if due:
        return due, due[0].next_run_at
    # min() keeps its argument's type, so the value comes back a UTC datetime
    nxt: datetime | None = conn.execute(
        select(func.min(SCHEDULES.c.next_run_at)).where(SCHEDULES.c.enabled.is_(True))
    ).scalar()
    return due, nxt


def claim_fire(
    conn: Connection,
    schedule_id: str,
    due: datetime,
    next_at: datetime,
    run: tuple[RunRecord, list[TaskRecord]] | None,
    at: datetime,
) -> bool:
    """Claim the fire of ``schedule_id`` due at ``due``: move its next fire to ``next_at``
    and insert ``run`` (None: a missed fire skipped), both only if no other process
    claimed that fire first.

    Returns:
        True when this call claimed the fire (and inserted the run).
    """
    values: dict[str, Any] = {"next_run_at": next_at, "updated_at": at}
    if run is not None:
        values.update(last_run_at=due, last_run_id=run[0].id)
    claimed = conn.execute(
        update(SCHEDULES)
        .where(
            SCHEDULES.c.id == schedule_id,
            SCHEDULES.c.enabled.is_(True),
            SCHEDULES.c.next_run_at == due,
        )
        .values(values)
    ).rowcount
    if claimed != 1:
        return False
    if run is not None:
        starts.insert_run(conn, *run)
    return True


def disable_schedule(
    conn: Connection, schedule_id: str, due: datetime | None, reason: str, at: datetime
) -> bool:
    """Disable a schedule with ``reason`` if its next fire is still ``due``."""
    where = [SCHEDULES.c.id == schedule_id, SCHEDULES.c.enabled.is_(True)]
    if due is not None:
        where.append(SCHEDULES.c.next_run_at == due)
    result = conn.execute(
        update(SCHEDULES)
        .where(*where)
        .values(enabled=False, disabled_reason=reason, next_run_at=None, updated_at=at)
    )
    return bool(result.rowcount == 1)


def disable_workflow_schedules(
    conn: Connection, workflow_id: str, reason: str, at: datetime
) -> int:
    """Disable every enabled schedule of a workflow; returns how many."""
    result = conn.execute(
        update(SCHEDULES)
        .where(SCHEDULES.c.workflow_id == workflow_id, SCHEDULES.c.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, next_run_at=None, updated_at=at)
    )
    return int(result.rowcount)


# -- triggers ---------------------------------------------------------------------


def insert_trigger(conn: Connection, trigger: TriggerRecord) -> None:
    """Insert a new trigger."""
    conn.execute(TRIGGERS.insert().values(_values(trigger)))


def get_trigger(conn: Connection, trigger_id: str) -> TriggerRecord:
    """One trigger; NotFound when absent."""
    row = conn.execute(select(TRIGGERS).where(TRIGGERS.c.id == trigger_id)).first()
    if row is None:
        raise NotFound("Trigger", trigger_id)
    return TriggerRecord(**{n: getattr(row, n) for n in _TRIGGER_NAMES})


def list_triggers(conn: Connection, workflow_id: str) -> list[TriggerRecord]:
    """A workflow's triggers, newest first."""
    rows = conn.execute(
        select(TRIGGERS)
        .where(TRIGGERS.c.workflow_id == workflow_id)
        .order_by(TRIGGERS.c.created_at.desc(), TRIGGERS.c.id.desc())
    )
    return [TriggerRecord(**{n: getattr(r, n) for n in _TRIGGER_NAMES}) for r in rows]


def delete_trigger(conn: Connection, trigger_id: str) -> None:
    """Delete a trigger; NotFound when absent."""
    if conn.execute(delete(TRIGGERS).where(TRIGGERS.c.id == trigger_id)).rowcount != 1:
        raise NotFound("Trigger", trigger_id)


def touch_trigger(conn: Connection, trigger_id: str, at: datetime) -> None:
    """Record that the trigger started a run at ``at``."""
    conn.execute(update(TRIGGERS).where(TRIGGERS.c.id == trigger_id).values(last_used_at=at))
