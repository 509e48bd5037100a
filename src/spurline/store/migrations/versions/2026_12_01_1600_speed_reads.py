"""Run counts kept by the store, and an index per list filter, so every filter of
``GET /run/`` answers its page and its ``X-Total-Count`` without reading every run
(docs/runs-api.md#endpoints-and-paging).

``run_counts`` holds how many runs there are per (workflow, status, run type,
top-level or child). On SQLite, triggers on ``runs`` keep it exact in the same
transaction as every insert, status change and delete (cascades included); the
table is filled once here from the runs already stored (one grouped scan: a few
seconds for a million runs). PostgreSQL keeps the table empty and counts with its
indexes: counters there would be rows every concurrent run transaction locks.

Revision ID: speed_reads
Revises: ops
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "speed_reads"
down_revision = "ops"
branch_labels = None
depends_on = None

_KEY = "workflow_id, status, run_type, child"


def _bump(row: str, delta: str) -> str:
    """Add ``delta`` to the count of the runs row ``row`` (NEW or OLD)."""
    return (
        f"INSERT INTO run_counts ({_KEY}, n) VALUES ({row}.workflow_id, {row}.status, "
        f"{row}.run_type, {row}.parent_run_id IS NOT NULL, {delta}) "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET n = n + ({delta});"
    )


TRIGGERS = {
    "run_counts_insert": f"AFTER INSERT ON runs BEGIN {_bump('NEW', '1')} END",
    "run_counts_delete": f"AFTER DELETE ON runs BEGIN {_bump('OLD', '-1')} END",
    "run_counts_update": (
        "AFTER UPDATE OF status, workflow_id, run_type, parent_run_id ON runs "
        "WHEN OLD.status IS NOT NEW.status OR OLD.workflow_id IS NOT NEW.workflow_id "
        "OR OLD.run_type IS NOT NEW.run_type "
        "OR (OLD.parent_run_id IS NULL) IS NOT (NEW.parent_run_id IS NULL) "
        f"BEGIN {_bump('OLD', '-1')} {_bump('NEW', '1')} END"
    ),
}


def upgrade() -> None:
    """Create run_counts (filled and kept by triggers on SQLite) and the filter indexes."""
    op.create_table(
        "run_counts",
        sa.Column("workflow_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_type", sa.String(32), nullable=False),
        sa.Column("child", sa.Boolean(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "status", "run_type", "child"),
    )
    op.create_index("ix_runs_type_start", "runs", ["run_type", "start_time", "id"])
    op.create_index("ix_runs_schedule_start", "runs", ["schedule_id", "start_time", "id"])
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"INSERT INTO run_counts ({_KEY}, n) SELECT workflow_id, status, run_type, "
        "parent_run_id IS NOT NULL, count(*) FROM runs GROUP BY 1, 2, 3, 4"
    )
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    """Drop the triggers, the indexes and run_counts."""
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_runs_schedule_start", table_name="runs")
    op.drop_index("ix_runs_type_start", table_name="runs")
    op.drop_table("run_counts")
