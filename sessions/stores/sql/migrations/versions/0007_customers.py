"""Customer profiles: one customer across channels and queues, found by phone or email.

``customers`` and ``customer_identities`` (sessions/stores/sql/customers.py), and the interaction's
``customer_id`` with an index, so one customer's interactions are an index range, not a scan.
Interactions stored before this are linked here (``backfill``), so a returning caller's history
includes what happened before the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 21:10:00.000000
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

from sessions.customers import identities

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("name_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_name_key", ["name_key"], unique=False)
    op.create_table(
        "customer_identities",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value"),
    )
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.create_index("ix_customer_identities_customer", ["customer_id"], unique=False)
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_interactions_customer_id", ["customer_id", "created_at"], unique=False)
    backfill(op.get_bind())


#: Interactions read (and their documents held) at a time.
BATCH = 500

_interactions = sa.table(
    "interactions",
    sa.column("id", sa.String),
    sa.column("customer_id", sa.String),
    sa.column("created_at", sa.Float),
    sa.column("doc", sa.Text),
)
_customers = sa.table(
    "customers",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
    sa.column("created_at", sa.Float),
)
_identities = sa.table(
    "customer_identities",
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
    sa.column("customer_id", sa.String),
)


def backfill(conn: sa.Connection) -> None:
    """Links every interaction stored before profiles existed, oldest first, as a new contact would have been linked.

    By its phone's profile, else its email's, else (a clone) its parent's, else a new profile; identities
    nobody owns join it.  The column and the document's ``customer.id`` both get the profile.  Reads
    ``BATCH`` unlinked rows at a time through ``ix_interactions_customer_id`` (the ones just linked drop
    out of the range), with one lookup per kind of identity per batch: plain SQL for SQLite and PostgreSQL.
    """
    i, ci = _interactions.c, _identities.c
    while True:
        rows = conn.execute(
            sa.select(i.id, i.created_at, i.doc)
            .where(i.customer_id.is_(None))
            .order_by(i.created_at, i.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        docs = {row.id: json.loads(row.doc) for row in rows}
        contacts = {ix_id: doc.get("customer") or {} for ix_id, doc in docs.items()}
        wanted = {ix_id: identities(c.get("phone"), c.get("email")) for ix_id, c in contacts.items()}
        owners: dict[tuple[str, str], str] = {}
        for kind in ("phone", "email"):
            values = sorted({v for ids in wanted.values() for k, v in ids if k == kind})
            if values:
                found = conn.execute(
                    sa.select(ci.value, ci.customer_id).where(ci.kind == kind, ci.value.in_(values))
                ).all()
                owners.update({(kind, value): owner for value, owner in found})
        parents = sorted({d["parent_id"] for d in docs.values() if d.get("parent_id")} - docs.keys())
        linked = dict(conn.execute(sa.select(i.id, i.customer_id).where(i.id.in_(parents))).all()) if parents else {}
        profiles: dict[str, dict[str, Any]] = {}
        new_identities: list[dict[str, str]] = []
        names: dict[str, str] = {}
        updates: list[dict[str, str]] = []
        for row in rows:
            ids, contact, doc = wanted[row.id], contacts[row.id], docs[row.id]
            target = next((owners[x] for x in ids if x in owners), None) or (
                linked.get(doc["parent_id"]) if doc.get("parent_id") else None
            )
            if target is None:
                target = uuid.uuid4().hex
                profiles[target] = {"id": target, "name": None, "name_key": None, "created_at": row.created_at}
            for kind, value in ids:
                if (kind, value) not in owners:
                    owners[(kind, value)] = target
                    new_identities.append({"kind": kind, "value": value, "customer_id": target})
            name = (contact.get("name") or "").strip()
            if name and target not in names:
                names[target] = name
            linked[row.id] = target
            doc["customer"] = {**contact, "id": target}
            updates.append(
                {
                    "b_id": row.id,
                    "b_customer": target,
                    "b_doc": json.dumps(doc, separators=(",", ":"), ensure_ascii=False),
                }
            )
        for target, name in names.items():
            if target in profiles:
                profiles[target].update(name=name, name_key=name.lower())
        if profiles:
            conn.execute(sa.insert(_customers), list(profiles.values()))
        if new_identities:
            conn.execute(sa.insert(_identities), new_identities)
        known = [{"b_id": t, "b_name": n, "b_key": n.lower()} for t, n in names.items() if t not in profiles]
        if known:
            c = _customers.c
            conn.execute(
                sa.update(_customers)
                .where(c.id == sa.bindparam("b_id"), c.name.is_(None))
                .values(name=sa.bindparam("b_name"), name_key=sa.bindparam("b_key")),
                known,
            )
        conn.execute(
            sa.update(_interactions)
            .where(i.id == sa.bindparam("b_id"))
            .values(customer_id=sa.bindparam("b_customer"), doc=sa.bindparam("b_doc")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_interactions_customer_id")
        batch_op.drop_column("customer_id")
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_identities_customer")
    op.drop_table("customer_identities")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_name_key")
    op.drop_table("customers")
