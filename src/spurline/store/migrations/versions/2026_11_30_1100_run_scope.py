"""Child runs of embedded bodies: ``runs.scope`` names the body a run executes.

Revision ID: 2026_11_30_1100
Revises: 2026_11_30_1000
Create Date: 2026-11-30 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_30_1100"
down_revision = "2026_11_30_1000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("scope", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("scope")
