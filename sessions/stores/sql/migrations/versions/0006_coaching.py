"""Coaching: every version of each queue's evaluation form, and the evaluations of completed interactions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_forms",
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("queue_id", "version"),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("evaluator", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(precision=53), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_evaluations_interaction", ["interaction_id", "created_at"], unique=False)
        batch_op.create_index("ix_evaluations_agent", ["agent", "created_at"], unique=False)
        batch_op.create_index("ix_evaluations_queue", ["queue_id", "created_at"], unique=False)
        batch_op.create_index("ix_evaluations_rollup", ["queue_id", "agent", "score"], unique=False)


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("evaluation_forms")
