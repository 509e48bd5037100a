"""Operations: schedules, webhook triggers, idempotency keys, run tags and metadata,
rerun lineage (docs/operations.md).

Revision ID: ops
Revises: sec
Create Date: 2026-12-01 13:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "ops"
down_revision = "sec"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("runs", sa.Column("tags", JSON, nullable=True))
    op.add_column("runs", sa.Column("run_metadata", JSON, nullable=True))
    op.add_column("runs", sa.Column("schedule_id", sa.String(40), nullable=True))
    op.add_column("runs", sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("rerun_of", sa.String(40), nullable=True))
    op.create_index("uq_runs_schedule_fire", "runs", ["schedule_id", "scheduled_for"], unique=True)
    op.create_index("ix_runs_rerun_of", "runs", ["rerun_of"])
    op.create_table(
        "run_tags",
        sa.Column(
            "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "tag"),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag", "run_id"])
    op.create_table(
        "run_metadata",
        sa.Column(
            "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.String(1000), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )
    op.create_index("ix_run_metadata_key_value", "run_metadata", ["key", "value", "run_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column(
            "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotency_keys_run", "idempotency_keys", ["run_id"])
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workflow_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("cron_expression", sa.String(200), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(100), nullable=False),
        sa.Column("initial_inputs", JSON, nullable=True),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("run_metadata", JSON, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("misfire_policy", sa.String(16), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.String(40), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_schedules_due", "schedules", ["enabled", "next_run_at"])
    op.create_index("ix_schedules_workflow", "schedules", ["workflow_id", "created_at"])
    op.create_table(
        "triggers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "workflow_id",
            sa.String(40),
            sa.ForeignKey("workflows.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("run_metadata", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_triggers_workflow", "triggers", ["workflow_id", "created_at"])


def downgrade() -> None:
    for table in ("triggers", "schedules", "idempotency_keys", "run_metadata", "run_tags"):
        op.drop_table(table)
    op.drop_index("ix_runs_rerun_of", "runs")
    op.drop_index("uq_runs_schedule_fire", "runs")
    with op.batch_alter_table("runs") as batch:
        for column in ("rerun_of", "scheduled_for", "schedule_id", "run_metadata", "tags"):
            batch.drop_column(column)
