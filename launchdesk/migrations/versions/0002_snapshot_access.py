"""Flag snapshots remember the access counts and the plan drift their sync found.

Revision ID: 0002_snapshot_access
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_snapshot_access"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flag_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_summary", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("drift", sa.Text(), nullable=True))
    # The server default only filled existing rows; the model supplies the value from now on.
    with op.batch_alter_table("flag_snapshot", schema=None) as batch_op:
        batch_op.alter_column("access_summary", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("flag_snapshot", schema=None) as batch_op:
        batch_op.drop_column("drift")
        batch_op.drop_column("access_summary")
