"""Run leases: which process executes a run, and takeover of runs whose owner died (SPEC §4.3).

A process that executes runs renews ``lease_expires_at`` on all of them at once.
A run PENDING or RUNNING whose lease has expired is taken over with a conditional
update on the expired lease, so when two processes race for it exactly one wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, not_, or_, select, update

from spurline.engine.states import RunStatus
from spurline.store.orm import RUNS

_ACTIVE = [RunStatus.PENDING.value, RunStatus.RUNNING.value]


def renew(conn: Connection, *, owner: str, run_ids: list[str], at: datetime, lease_s: float) -> int:
    """Extend this owner's leases on ``run_ids``; returns how many were extended."""
    if not run_ids:
        return 0
    result = conn.execute(
        update(RUNS)
        .where(RUNS.c.id.in_(run_ids), RUNS.c.lease_owner == owner, RUNS.c.status.in_(_ACTIVE))
        .values(lease_expires_at=at + timedelta(seconds=lease_s))
    )
    return result.rowcount


def expired(conn: Connection, at: datetime, limit: int = 100) -> list[str]:
    """Ids of PENDING/RUNNING runs whose lease expired or was never taken, oldest first.

    Children of a node (``parent_task_id`` set) and batch rows are left out: the
    node or batch dispatcher that waits for them resumes them when their parent is
    taken over (SPEC §6), so they never run twice or outside their parent's limit.
    """
    resumed_by_parent = and_(
        RUNS.c.parent_run_id.is_not(None),
        or_(RUNS.c.parent_task_id.is_not(None), RUNS.c.run_type == "batch"),
    )
    rows = conn.execute(
        select(RUNS.c.id)
        .where(
            RUNS.c.status.in_(_ACTIVE),
            or_(RUNS.c.lease_expires_at.is_(None), RUNS.c.lease_expires_at < at),
            not_(resumed_by_parent),
        )
        .order_by(RUNS.c.start_time)
        .limit(limit)
    )
    return [r[0] for r in rows]


def take_over(conn: Connection, *, run_id: str, owner: str, at: datetime, lease_s: float) -> bool:
    """Claim a run whose lease expired; True for exactly one of several racing claimants."""
    result = conn.execute(
        update(RUNS)
        .where(
            RUNS.c.id == run_id,
            RUNS.c.status.in_(_ACTIVE),
            or_(RUNS.c.lease_expires_at.is_(None), RUNS.c.lease_expires_at < at),
        )
        .values(lease_owner=owner, lease_expires_at=at + timedelta(seconds=lease_s))
    )
    return result.rowcount == 1
