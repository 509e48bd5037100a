"""Task attempts keyed by (task, number): on SQLite a table without rowid, so each node
step writes one B-tree for its attempt instead of three (docs/observability.md).

Revision ID: speed_nodecost
Revises: speed_reads
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "speed_nodecost"
down_revision = "speed_reads"
branch_labels = None
depends_on = None

_COLUMNS = (
    "id, task_id, run_id, node_id, number, status, ready_time, start_time, end_time, "
    "error, traceback, started_by"
)


def _create(name: str, keyed_by_task: bool) -> None:
    key = (
        [sa.PrimaryKeyConstraint("task_id", "number")]
        if keyed_by_task
        else [
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("task_id", "number", name="uq_attempts_task_number"),
        ]
    )
    op.create_table(
        name,
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
        *key,
        sqlite_with_rowid=not keyed_by_task,
    )


def _rebuild(keyed_by_task: bool) -> None:
    """SQLite cannot change a primary key in place: copy into a new table."""
    _create("task_attempts_new", keyed_by_task)
    op.execute(f"INSERT INTO task_attempts_new ({_COLUMNS}) SELECT {_COLUMNS} FROM task_attempts")
    op.drop_table("task_attempts")
    op.rename_table("task_attempts_new", "task_attempts")


def upgrade() -> None:
    """Key task_attempts by (task_id, number); drop the key on id and the unique pair."""
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(keyed_by_task=True)
        return
    op.drop_constraint("uq_attempts_task_number", "task_attempts", type_="unique")
    op.drop_constraint("task_attempts_pkey", "task_attempts", type_="primary")
    op.create_primary_key("task_attempts_pkey", "task_attempts", ["task_id", "number"])


def downgrade() -> None:
    """Key task_attempts by id again, (task_id, number) unique."""
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(keyed_by_task=False)
        return
    op.drop_constraint("task_attempts_pkey", "task_attempts", type_="primary")
    op.create_primary_key("task_attempts_pkey", "task_attempts", ["id"])
    op.create_unique_constraint("uq_attempts_task_number", "task_attempts", ["task_id", "number"])
