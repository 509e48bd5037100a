"""Run leases: which process executes a run, and takeover of runs whose owner died
(docs/architecture.md#leases-and-recovery).

A process that executes runs renews ``lease_expires_at`` on all of them at once
(every third of the lease). A run PENDING or RUNNING whose lease has expired is
taken over with a conditional update on the expired lease, so when two processes
race for it exactly one wins: on PostgreSQL the second UPDATE waits for the first's
row lock, re-reads the row and no longer matches; on SQLite writers are serialised
by ``BEGIN IMMEDIATE``. :func:`take_over_expired` reads the candidates and claims
them in the same write transaction, so no claim rests on a stale read; clocks of the
processes only need to agree to well within a lease.

A process also polls :func:`executing_elsewhere` for the runs it executes, so a run
canceled through another process, or taken over because this one stalled past its
lease, stops here within a poll.

A process on the same host and home as a dead one knows it is dead at once (see
:mod:`spurline.services.process_slot`) and takes its runs over with
:func:`take_over_from` without waiting for the leases to expire; a process shutting
down hands its runs over with :func:`release` (docs/reliability.md#clean-shutdown).

A run waiting in a message queue (Celery executor) holds a *queued* lease: no
owner, and an expiry that bounds how long its message may take to reach a worker.
A worker claims it on receipt; if the message was lost, the lease expires and the
run is taken over (and enqueued again) like any orphan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, not_, or_, select, update

from spurline.engine.states import RunStatus
from spurline.store.orm import RUNS

_ACTIVE = [RunStatus.PENDING.value, RunStatus.RUNNING.value]


def _lapsed(at: datetime) -> ColumnElement[bool]:
    return or_(RUNS.c.lease_expires_at.is_(None), RUNS.c.lease_expires_at < at)


def _own_lease() -> ColumnElement[bool]:
    """Runs whose lease recovery may take over: not children of a node and not batch
    rows, which the node or batch dispatcher waiting for them resumes when their parent
    is taken over (docs/child-runs-and-batches.md), so they never run twice or outside their
    parent's limit.
    """
    resumed_by_parent = and_(
        RUNS.c.parent_run_id.is_not(None),
        or_(RUNS.c.parent_task_id.is_not(None), RUNS.c.run_type == "batch"),
    )
    return not_(resumed_by_parent)


def lease_values(owner: str, at: datetime, lease_s: float) -> dict[str, Any]:
    """Column values that give ``owner`` a run's lease from ``at`` for ``lease_s`` seconds."""
    return {"lease_owner": owner, "lease_expires_at": at + timedelta(seconds=lease_s)}


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

    Children of a node and batch rows are left out (see :func:`_own_lease`).
    """
    rows = conn.execute(
        select(RUNS.c.id)
        .where(RUNS.c.status.in_(_ACTIVE), _lapsed(at), _own_lease())
        .order_by(RUNS.c.start_time)
        .limit(limit)
    )
    return [r[0] for r in rows]


def take_over(conn: Connection, *, run_id: str, owner: str, at: datetime, lease_s: float) -> bool:
    """Claim a run whose lease expired; True for exactly one of several racing claimants."""
    result = conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_(_ACTIVE), _lapsed(at))
        .values(lease_owner=owner, lease_expires_at=at + timedelta(seconds=lease_s))
    )
    return result.rowcount == 1


def take_over_expired(
    conn: Connection, *, owner: str, at: datetime, lease_s: float, limit: int = 100
) -> list[str]:
    """Claim up to ``limit`` runs whose lease expired, oldest first; returns their ids.

    Children of a node and batch rows are left out (see :func:`_own_lease`).

    On PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``, so processes
    recovering at the same moment split the orphans between them instead of queueing
    on each other's row locks; the UPDATE repeats the expiry test either way, so a
    run is claimed by exactly one process. (SQLite ignores the lock clause; its
    writers are serialised.)
    """
    candidates = [
        r[0]
        for r in conn.execute(
            select(RUNS.c.id)
            .where(RUNS.c.status.in_(_ACTIVE), _lapsed(at), _own_lease())
            .order_by(RUNS.c.start_time)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ]
    if not candidates:
        return []
    rows = conn.execute(
        update(RUNS)
        .where(RUNS.c.id.in_(candidates), RUNS.c.status.in_(_ACTIVE), _lapsed(at))
        .values(lease_owner=owner, lease_expires_at=at + timedelta(seconds=lease_s))
        .returning(RUNS.c.id)
    )
    claimed = {r[0] for r in rows}
    return [rid for rid in candidates if rid in claimed]


def active_owners(conn: Connection, exclude: str) -> list[str]:
    """Distinct owners, other than ``exclude``, of leases on active runs recovery may
    take over (see :func:`_own_lease`)."""
    rows = conn.execute(
        select(RUNS.c.lease_owner)
        .where(
            RUNS.c.status.in_(_ACTIVE),
            RUNS.c.lease_owner.is_not(None),
            RUNS.c.lease_owner != exclude,
            _own_lease(),
        )
        .distinct()
    )
    return [r[0] for r in rows]


def take_over_from(
    conn: Connection, *, dead: list[str], owner: str, at: datetime, lease_s: float
) -> list[str]:
    """Claim the active runs leased to ``dead`` owners (processes known dead), whether
    or not their leases expired; returns their ids, oldest first.

    The UPDATE names the dead owners, so a run another process claimed meanwhile is
    left alone. Children of a node and batch rows are left out (see :func:`_own_lease`).
    """
    if not dead:
        return []
    rows = conn.execute(
        update(RUNS)
        .where(RUNS.c.lease_owner.in_(dead), RUNS.c.status.in_(_ACTIVE), _own_lease())
        .values(lease_owner=owner, lease_expires_at=at + timedelta(seconds=lease_s))
        .returning(RUNS.c.id, RUNS.c.start_time)
    )
    return [rid for rid, _ in sorted(rows, key=lambda r: r[1])]


def release(conn: Connection, *, owner: str, at: datetime) -> list[str]:
    """End every lease ``owner`` holds on an active run now, so other processes take
    the runs over at once (docs/reliability.md#clean-shutdown); returns their ids."""
    rows = conn.execute(
        update(RUNS)
        .where(RUNS.c.lease_owner == owner, RUNS.c.status.in_(_ACTIVE))
        .values(lease_expires_at=at)
        .returning(RUNS.c.id)
    )
    return [r[0] for r in rows]


def next_expiry(conn: Connection, owner: str) -> datetime | None:
    """When the first lease of an active run held by another owner runs out (None: none)."""
    return conn.execute(
        select(func.min(RUNS.c.lease_expires_at)).where(
            RUNS.c.status.in_(_ACTIVE), RUNS.c.lease_owner != owner, _own_lease()
        )
    ).scalar_one_or_none()


def executing_elsewhere(conn: Connection, owner: str, run_ids: list[str]) -> list[str]:
    """Of ``run_ids`` (executing in ``owner``'s process), those it must stop executing:
    CANCELED, deleted, or PENDING/RUNNING under another owner's lease (this one lost it).

    Runs that PAUSED, COMPLETED or FAILED are not listed: their executions end by
    themselves, and a run resumed or retried here meanwhile must not be stopped on
    the strength of a read made just before. A run with no owner (queued) is kept.
    """
    if not run_ids:
        return []
    rows = conn.execute(
        select(RUNS.c.id, RUNS.c.status, RUNS.c.lease_owner).where(RUNS.c.id.in_(run_ids))
    )
    keep = set()
    for rid, status, lease_owner in rows:
        lost = status in _ACTIVE and lease_owner is not None and lease_owner != owner
        if status != RunStatus.CANCELED.value and not lost:
            keep.add(rid)
    return [rid for rid in run_ids if rid not in keep]


def mark_queued(conn: Connection, *, run_id: str, owner: str, at: datetime, wait_s: float) -> bool:
    """Give an active run a queued lease (no owner, expiring after ``wait_s`` seconds).

    Applies when the run is unowned, owned by ``owner`` (the process enqueueing it)
    or its lease expired. Returns False otherwise: the run finished, paused, or
    another live process executes it, so there is nothing to enqueue.
    """
    result = conn.execute(
        update(RUNS)
        .where(
            RUNS.c.id == run_id,
            RUNS.c.status.in_(_ACTIVE),
            or_(RUNS.c.lease_owner.is_(None), RUNS.c.lease_owner == owner, _lapsed(at)),
        )
        .values(lease_owner=None, lease_expires_at=at + timedelta(seconds=wait_s))
    )
    return result.rowcount == 1


def requeue_lapsed(conn: Connection, *, run_id: str, at: datetime, wait_s: float) -> bool:
    """Give a run a fresh queued lease if its lease lapsed (its worker died, or its
    message was lost); False while someone holds it or it is no longer active."""
    result = conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_(_ACTIVE), _lapsed(at))
        .values(lease_owner=None, lease_expires_at=at + timedelta(seconds=wait_s))
    )
    return result.rowcount == 1


def claim(conn: Connection, *, run_id: str, owner: str, at: datetime, lease_s: float) -> bool:
    """A worker's claim on a run it received from the queue.

    Succeeds when the run is PENDING/RUNNING and either queued (no owner) or its
    lease expired; fails for a duplicate message of a run another live process
    executes, and for a run that finished, paused or was canceled meanwhile.
    """
    result = conn.execute(
        update(RUNS)
        .where(
            RUNS.c.id == run_id,
            RUNS.c.status.in_(_ACTIVE),
            or_(RUNS.c.lease_owner.is_(None), _lapsed(at)),
        )
        .values(lease_owner=owner, lease_expires_at=at + timedelta(seconds=lease_s))
    )
    return result.rowcount == 1


def queued(conn: Connection, at: datetime, limit: int = 10_000) -> list[str]:
    """Ids of PENDING/RUNNING runs waiting in the message queue (a queued lease, no
    owner, not run out at ``at``), oldest first."""
    rows = conn.execute(
        select(RUNS.c.id)
        .where(
            RUNS.c.status.in_(_ACTIVE),
            RUNS.c.lease_owner.is_(None),
            RUNS.c.lease_expires_at >= at,
        )
        .order_by(RUNS.c.start_time)
        .limit(limit)
    )
    return [r[0] for r in rows]
