"""Customer profiles: one customer across channels and queues, found by phone or email.

``customers`` and ``customer_identities`` (sessions/stores/sql/customers.py), and the interaction's
``customer_id`` with an index, so one customer's interactions are an index range, not a scan.
Interactions stored before this have no customer; they are linked when next edited.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 21:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'customers',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('name_key', sa.String(length=200), nullable=True),
        sa.Column('merged_into', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_merged_into', ['merged_into'], unique=False)
        batch_op.create_index('ix_customers_name_key', ['name_key'], unique=False)
    op.create_table(
        'customer_identities',
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('value', sa.String(length=254), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'value'),
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index('ix_customer_identities_customer', ['customer_id'], unique=False)
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_interactions_customer_id', ['customer_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('ix_interactions_customer_id')
        batch_op.drop_column('customer_id')
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_identities_customer')
    op.drop_table('customer_identities')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_name_key')
        batch_op.drop_index('ix_customers_merged_into')
    op.drop_table('customers')
