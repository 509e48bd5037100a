"""Run counts per minute, hour and day of ``start_time``, so a ``start_date`` /
``end_date`` range of ``GET /run/`` is counted without reading every run in it
(docs/runs-api.md#endpoints-and-paging).

``run_time_counts`` holds how many runs started in each bucket per (workflow,
status, run type, top-level or child), the key of ``run_counts``. A bucket is the
start time's text as SQLite stores it (``YYYY-MM-DD HH:MM:SS.ffffff``) cut to 16
(minute), 13 (hour) or 10 (day) characters. On SQLite, triggers on ``runs`` keep
it exact in the same transaction as every insert, status change and delete
(cascades included); a delete also drops the emptied rows of the deleted run's
buckets, so retention leaves no zero rows behind. The table is filled once here
from the runs already stored (a grouped scan per span). PostgreSQL keeps the
table empty and counts with its indexes, as it does ``run_counts``: counters
there would be rows every concurrent run transaction locks.

Revision ID: speed_time_counts
Revises: speed_nodecost
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "speed_time_counts"
down_revision = "speed_nodecost"
branch_labels = None
depends_on = None

_KEY = "span, bucket, workflow_id, status, run_type, child"
#: (span in seconds, characters of the stored start time that name its bucket)
SPANS = ((60, 16), (3600, 13), (86400, 10))


def _rows(row: str, delta: str) -> str:
    """VALUES rows adding ``delta`` to every bucket of the runs row ``row``."""
    return ", ".join(
        f"({span}, substr({row}.start_time, 1, {chars}), {row}.workflow_id, {row}.status, "
        f"{row}.run_type, {row}.parent_run_id IS NOT NULL, {delta})"
        for span, chars in SPANS
    )


def _bump(*rows: str) -> str:
    return (
        f"INSERT INTO run_time_counts ({_KEY}, n) VALUES {', '.join(rows)} "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET n = n + excluded.n;"
    )


_EMPTIED = " OR ".join(
    f"(span = {span} AND bucket = substr(OLD.start_time, 1, {chars}))" for span, chars in SPANS
)

TRIGGERS = {
    "run_time_counts_insert": f"AFTER INSERT ON runs BEGIN {_bump(_rows('NEW', '1'))} END",
    "run_time_counts_delete": (
        f"AFTER DELETE ON runs BEGIN {_bump(_rows('OLD', '-1'))} "
        f"DELETE FROM run_time_counts WHERE ({_EMPTIED}) AND n = 0; END"
    ),
    "run_time_counts_update": (
        "AFTER UPDATE OF status, workflow_id, run_type, parent_run_id, start_time ON runs "
        "WHEN OLD.status IS NOT NEW.status OR OLD.workflow_id IS NOT NEW.workflow_id "
        "OR OLD.run_type IS NOT NEW.run_type "
        "OR (OLD.parent_run_id IS NULL) IS NOT (NEW.parent_run_id IS NULL) "
        "OR OLD.start_time IS NOT NEW.start_time "
        f"BEGIN {_bump(_rows('OLD', '-1'), _rows('NEW', '1'))} END"
    ),
}


def upgrade() -> None:
    """Create run_time_counts (filled and kept by triggers on SQLite)."""
    op.create_table(
        "run_time_counts",
        sa.Column("span", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_type", sa.String(32), nullable=False),
        sa.Column("child", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("span", "bucket", "workflow_id", "status", "run_type", "child"),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    fills = [
        f"INSERT INTO run_time_counts ({_KEY}, n) SELECT {span}, substr(start_time, 1, "
        f"{chars}), workflow_id, status, run_type, parent_run_id IS NOT NULL, count(*) "
        "FROM runs GROUP BY 2, 3, 4, 5, 6"
        for span, chars in SPANS
    ]
    # filled before the triggers exist, in the migration's transaction: no run is
    # counted twice or missed
    for statement in [*fills, *(f"CREATE TRIGGER {n} {body}" for n, body in TRIGGERS.items())]:
        op.execute(statement)


def downgrade() -> None:
    """Drop the triggers (SQLite) and run_time_counts."""
    drops = [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS]
    for statement in drops if op.get_bind().dialect.name == "sqlite" else []:
        op.execute(statement)
    op.drop_table("run_time_counts")
