"""A message's send is held by one sender at a time, under a lease its heartbeat renews; a dropped delivery
remembers who gave it up, so retrying failed deliveries never resends it.

Revision ID: 0003_send_lease
Revises: 0002_snapshot_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_send_lease"
down_revision = "0002_snapshot_access"
branch_labels = None
depends_on = None

DROPPED_PREFIX = "Dropped by "
DROPPED_SUFFIX = " after an uncertain attempt; not resent."


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_lease_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("send_lease_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("send_lease_host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("send_lease_expires", sa.DateTime(), nullable=True))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dropped_by", sa.String(length=200), nullable=True))
    # Rows dropped before this revision said so only in their error text ("Dropped by Pat after an uncertain
    # attempt; not resent."): name the person in the new column, so a retry of failed rows leaves them alone.
    delivery = sa.table("delivery", sa.column("state", sa.String), sa.column("last_error", sa.Text),
                        sa.column("dropped_by", sa.String))
    who = sa.func.substr(delivery.c.last_error, len(DROPPED_PREFIX) + 1,
                         sa.func.length(delivery.c.last_error) - len(DROPPED_PREFIX) - len(DROPPED_SUFFIX))
    op.execute(delivery.update()
               .where(delivery.c.state == "failed", delivery.c.last_error.like(f"{DROPPED_PREFIX}%{DROPPED_SUFFIX}"))
               .values(dropped_by=who))
    # A send that was under way when the file was upgraded has no lease: its rows left "sending" are treated
    # as a crashed sender's, as before.


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("dropped_by")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("send_lease_expires")
        batch_op.drop_column("send_lease_host")
        batch_op.drop_column("send_lease_by")
        batch_op.drop_column("send_lease_token")
