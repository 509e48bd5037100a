"""Observability: task attempts, the run event stream (log lines included), task
traceback and ready time (docs/observability.md).

Revision ID: obs
Revises: 2026_11_30_1100
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "obs"
down_revision = "2026_11_30_1100"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("traceback", sa.Text(), nullable=True))
    op.add_column("tasks", sa.Column("ready_time", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "task_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ready_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "number", name="uq_attempts_task_number"),
    )
    op.create_table(
        "run_events",
        sa.Column("id", EVENT_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("workflow_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("task_id", sa.String(length=40), nullable=True),
        sa.Column("node_id", sa.String(length=200), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_run", "run_events", ["run_id", "id"])
    op.create_index("ix_events_workflow", "run_events", ["workflow_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_workflow", table_name="run_events")
    op.drop_index("ix_events_run", table_name="run_events")
    op.drop_table("run_events")
    op.drop_table("task_attempts")
    op.drop_column("tasks", "ready_time")
    op.drop_column("tasks", "traceback")
