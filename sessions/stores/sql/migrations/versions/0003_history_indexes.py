"""History by outcome or by type: indexes in (completed_at, id) order, so either filter alone reads no other rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 11:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interactions_outcome_completed", ["state", "outcome", "completed_at", "id"], unique=False
        )
        batch_op.create_index("ix_interactions_type_completed", ["state", "type", "completed_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_type_completed")
        batch_op.drop_index("ix_interactions_outcome_completed")
