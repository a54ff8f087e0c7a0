"""Direct messages between users: one thread per pair (with each member's read mark) and its messages.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 21:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dm_threads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_a", sa.String(length=64), nullable=False),
        sa.Column("user_b", sa.String(length=64), nullable=False),
        sa.Column("last_id", Id, nullable=True),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.Column("read_a", Id, nullable=False),
        sa.Column("read_b", Id, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dm_threads", schema=None) as batch_op:
        batch_op.create_index("ix_dm_threads_user_a", ["user_a", "updated_at"], unique=False)
        batch_op.create_index("ix_dm_threads_user_b", ["user_b", "updated_at"], unique=False)

    op.create_table(
        "dm_messages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dm_messages", schema=None) as batch_op:
        batch_op.create_index("ix_dm_messages_thread", ["thread_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dm_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_dm_messages_thread")
    op.drop_table("dm_messages")
    with op.batch_alter_table("dm_threads", schema=None) as batch_op:
        batch_op.drop_index("ix_dm_threads_user_b")
        batch_op.drop_index("ix_dm_threads_user_a")
    op.drop_table("dm_threads")
