"""Starting runs exactly once: idempotency keys, run tags and metadata (docs/operations.md).

A run is inserted with its tags and metadata rows and, when the request named an
idempotency key, the key's row, all in one transaction. The key is the primary key
of ``idempotency_keys``, so of two racing starts with one key exactly one commits;
the other's transaction (its run included) rolls back and it reads the winner's run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select

from spurline.engine.records import RunRecord, TaskRecord
from spurline.store import runs as run_q
from spurline.store.orm import IDEMPOTENCY_KEYS, RUN_METADATA, RUN_TAGS

#: How long an idempotency key returns its first run.
KEY_TTL = timedelta(hours=24)


def run_of_key(conn: Connection, key: str, at: datetime) -> str | None:
    """The run a key started within :data:`KEY_TTL` before ``at``, or None."""
    row = conn.execute(
        select(IDEMPOTENCY_KEYS.c.run_id, IDEMPOTENCY_KEYS.c.created_at).where(
            IDEMPOTENCY_KEYS.c.key == key
        )
    ).first()
    if row is None or row.created_at <= at - KEY_TTL:
        return None
    return str(row.run_id)


def insert_run(
    conn: Connection,
    run: RunRecord,
    tasks: list[TaskRecord],
    idempotency_key: str | None = None,
) -> str | None:
    """Insert ``run`` with its tasks, tag and metadata rows, and its idempotency key.

    Returns:
        None when the run was inserted; else the id of the run the key already
        started (within 24 h), and nothing is written.

    Raises:
        sqlalchemy.exc.IntegrityError: another transaction claimed the key first (the
            caller reads that run with :func:`run_of_key`).
    """
    if idempotency_key is not None:
        existing = run_of_key(conn, idempotency_key, run.start_time)
        if existing is not None:
            return existing
        # an expired key is given to the new run
        conn.execute(delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.key == idempotency_key))
    run_q.insert_run(conn, run, tasks)
    if run.tags:
        conn.execute(RUN_TAGS.insert(), [{"run_id": run.id, "tag": t} for t in run.tags])
    if run.run_metadata:
        conn.execute(
            RUN_METADATA.insert(),
            [{"run_id": run.id, "key": k, "value": v} for k, v in run.run_metadata.items()],
        )
    if idempotency_key is not None:
        conn.execute(
            IDEMPOTENCY_KEYS.insert().values(
                key=idempotency_key, run_id=run.id, created_at=run.start_time
            )
        )
    return None


def forget_expired_keys(conn: Connection, at: datetime) -> int:
    """Delete keys older than :data:`KEY_TTL`; returns how many."""
    cutoff = at - KEY_TTL
    return int(
        conn.execute(
            delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.created_at <= cutoff)
        ).rowcount
    )
