"""Timers and live figures by index: a ``channel`` column,
the waiting and arrivals indexes; offered and consulted by state too.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
    # model.Interaction.channel: calls (either subtype) are one channel; the rest count by subtype.
    op.execute("UPDATE interactions SET channel = CASE WHEN type = 'call' THEN 'call' ELSE subtype END")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index("ix_interactions_waiting", ["status", "queue_id", "channel", "created_at"], unique=False)
        batch_op.create_index(
            "ix_interactions_arrivals", ["queue_id", "created_at", "answered_at", "abandoned_at"], unique=False
        )
        # A user's active offers and consults without reading their history (as ix_interactions_assigned does).
        batch_op.drop_index("ix_interactions_offered")
        batch_op.drop_index("ix_interactions_consulted")
        batch_op.create_index("ix_interactions_offered", ["offered_to", "state"], unique=False)
        batch_op.create_index("ix_interactions_consulted", ["consulted", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_consulted")
        batch_op.drop_index("ix_interactions_offered")
        batch_op.create_index("ix_interactions_offered", ["offered_to"], unique=False)
        batch_op.create_index("ix_interactions_consulted", ["consulted"], unique=False)
        batch_op.drop_index("ix_interactions_arrivals")
        batch_op.drop_index("ix_interactions_waiting")
        batch_op.drop_column("channel")
