"""The initial schema: queues, users, secrets, interactions with their indexes, tags, the event log, maps, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 18:17:26.195589
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_at"), ["at"], unique=False)

    op.create_table(
        "interaction_tags",
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tag", "interaction_id"),
    )
    with op.batch_alter_table("interaction_tags", schema=None) as batch_op:
        batch_op.create_index("ix_interaction_tags_interaction", ["interaction_id"], unique=False)

    op.create_table(
        "interactions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("subtype", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("assigned_to", sa.String(length=64), nullable=True),
        sa.Column("offered_to", sa.String(length=64), nullable=True),
        sa.Column("consulted", sa.String(length=64), nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("customer_phone", sa.String(length=32), nullable=True),
        sa.Column("customer_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("claimed_at", sa.Float(precision=53), nullable=True),
        sa.Column("answered_at", sa.Float(precision=53), nullable=True),
        sa.Column("abandoned_at", sa.Float(precision=53), nullable=True),
        sa.Column("offer_expires_at", sa.Float(precision=53), nullable=True),
        sa.Column("wrap_up_at", sa.Float(precision=53), nullable=True),
        sa.Column("completed_at", sa.Float(precision=53), nullable=True),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index("ix_interactions_active", ["state", "queue_id", "created_at"], unique=False)
        batch_op.create_index("ix_interactions_agent_completed", ["completed_by", "completed_at", "id"], unique=False)
        batch_op.create_index("ix_interactions_assigned", ["assigned_to", "state"], unique=False)
        batch_op.create_index("ix_interactions_completed", ["state", "completed_at", "id"], unique=False)
        batch_op.create_index("ix_interactions_consulted", ["consulted"], unique=False)
        batch_op.create_index("ix_interactions_customer_email", ["customer_email"], unique=False)
        batch_op.create_index(
            "ix_interactions_customer_name",
            ["customer_name"],
            unique=False,
            postgresql_ops={"customer_name": "varchar_pattern_ops"},
        )
        batch_op.create_index("ix_interactions_customer_phone", ["customer_phone"], unique=False)
        batch_op.create_index("ix_interactions_offered", ["offered_to"], unique=False)
        batch_op.create_index("ix_interactions_offers", ["status", "offer_expires_at"], unique=False)
        batch_op.create_index(
            "ix_interactions_queue_completed", ["queue_id", "state", "completed_at", "id"], unique=False
        )
        batch_op.create_index("ix_interactions_wrap_up", ["status", "queue_id", "wrap_up_at"], unique=False)

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "maps",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "key"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "passwords",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "queues",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "remembered",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("remembered", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remembered_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )


def downgrade() -> None:
    op.drop_table("users")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_user_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("remembered", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remembered_expires_at"))

    op.drop_table("remembered")
    op.drop_table("queues")
    op.drop_table("passwords")
    op.drop_table("meta")
    op.drop_table("maps")
    op.drop_table("leases")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_wrap_up")
        batch_op.drop_index("ix_interactions_queue_completed")
        batch_op.drop_index("ix_interactions_offers")
        batch_op.drop_index("ix_interactions_offered")
        batch_op.drop_index("ix_interactions_customer_phone")
        batch_op.drop_index("ix_interactions_customer_name", postgresql_ops={"customer_name": "varchar_pattern_ops"})
        batch_op.drop_index("ix_interactions_customer_email")
        batch_op.drop_index("ix_interactions_consulted")
        batch_op.drop_index("ix_interactions_completed")
        batch_op.drop_index("ix_interactions_assigned")
        batch_op.drop_index("ix_interactions_agent_completed")
        batch_op.drop_index("ix_interactions_active")

    op.drop_table("interactions")
    with op.batch_alter_table("interaction_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_tags_interaction")

    op.drop_table("interaction_tags")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_at"))

    op.drop_table("events")
