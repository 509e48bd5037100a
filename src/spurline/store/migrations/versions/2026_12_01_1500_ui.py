"""Indexes for the web UI's runs page: parent runs newest first, and counts of parent
runs per status, without reading every run row (see docs/ui.md).

Revision ID: ui
"""

from __future__ import annotations

from alembic import op

revision = "ui"
down_revision = "pyspur"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two indexes."""
    op.create_index("ix_runs_parent_start", "runs", ["parent_run_id", "start_time", "id"])
    op.create_index("ix_runs_parent_status", "runs", ["parent_run_id", "status", "start_time"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_runs_parent_status", table_name="runs")
    op.drop_index("ix_runs_parent_start", table_name="runs")
