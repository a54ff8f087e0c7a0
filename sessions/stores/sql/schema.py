"""The tables of the store of record, as SQLAlchemy Core metadata.

Interactions are kept as a JSON document (``doc``) beside the columns that
queries need: every listing, timer, figure and history search reads an
index, never the documents of rows it does not return.  Times are float
epoch seconds on both databases, so the same comparisons hold on each.
The migrations in ``migrations/versions`` create exactly these tables;
``tests/sessions/stores/test_migrations.py`` checks that they agree.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

#: Epoch seconds (double precision on PostgreSQL, REAL on SQLite).
Time = Float(precision=53)

queues = Table(
    "queues",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("doc", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("doc", Text, nullable=False),
)

passwords = Table(
    "passwords",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("hash", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("digest", String(128), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("queue_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("type", String(16), nullable=False),
    Column("subtype", String(16), nullable=False),
    # What capacity counts it in (model.Channel): calls of both subtypes are one channel.
    Column("channel", String(16)),
    Column("direction", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("assigned_to", String(64)),
    Column("offered_to", String(64)),
    Column("consulted", String(64)),
    Column("completed_by", String(64)),
    Column("customer_name", String(200)),
    Column("customer_phone", String(32)),
    Column("customer_email", String(254)),
    # The customer profile (sessions/customers.py); one customer's interactions are an index range.
    Column("customer_id", String(64)),
    Column("created_at", Time, nullable=False),
    Column("claimed_at", Time),
    Column("answered_at", Time),
    Column("abandoned_at", Time),
    Column("offer_expires_at", Time),
    Column("wrap_up_at", Time),
    Column("completed_at", Time),
    Column("doc", Text, nullable=False),
    # The live set, in the order a queue is worked.
    Index("ix_interactions_active", "state", "queue_id", "created_at"),
    # Timers: offers by expiry, wrap-ups by start (per queue, whose limit applies).
    Index("ix_interactions_offers", "status", "offer_expires_at"),
    Index("ix_interactions_wrap_up", "status", "queue_id", "wrap_up_at"),
    # Waiting by queue and channel, oldest first (dispatch, voicemail-after); status counts and waits (figures).
    Index("ix_interactions_waiting", "status", "queue_id", "channel", "created_at"),
    # Service level: a queue's arrivals in a window, answered or abandoned, read from the index alone.
    Index("ix_interactions_arrivals", "queue_id", "created_at", "answered_at", "abandoned_at"),
    # Who holds what (an agent's load, their console's reload).
    # Covering for agents' loads (user, channel counts), read on every figures tick.
    Index("ix_interactions_assigned", "assigned_to", "state", "channel"),
    Index("ix_interactions_offered", "offered_to", "state", "channel", "assigned_to"),
    Index("ix_interactions_consulted", "consulted", "state"),
    # History: newest first, per queue, per agent, by customer.
    Index("ix_interactions_completed", "state", "completed_at", "id"),
    Index("ix_interactions_queue_completed", "queue_id", "state", "completed_at", "id"),
    Index("ix_interactions_agent_completed", "completed_by", "completed_at", "id"),
    Index("ix_interactions_outcome_completed", "state", "outcome", "completed_at", "id"),
    Index("ix_interactions_type_completed", "state", "type", "completed_at", "id"),
    Index("ix_interactions_customer_phone", "customer_phone"),
    Index("ix_interactions_customer_email", "customer_email"),
    Index("ix_interactions_customer_id", "customer_id", "created_at"),
    # Lower-cased, matched by prefix: LIKE 'x%' on PostgreSQL needs the pattern operator class.
    Index("ix_interactions_customer_name", "customer_name", postgresql_ops={"customer_name": "varchar_pattern_ops"}),
)

#: One row per (interaction, tag) so a tag search is an index lookup.
interaction_tags = Table(
    "interaction_tags",
    metadata,
    Column("tag", String(64), primary_key=True),
    Column("interaction_id", String(64), primary_key=True),
    Index("ix_interaction_tags_interaction", "interaction_id"),
)

#: The event log.  ``id`` is the cursor; inserts are serialised (one writer at a time) so ids commit in order.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", Time, nullable=False, index=True),
    Column("body", Text, nullable=False),
)

#: Small named values: how far the log was pruned, how far the relay got.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Durable small maps: routing config, SMS threads, chat tokens, pending voicemails.
maps = Table(
    "maps",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Values kept for a while: webhook de-duplication, single-use socket tickets.
remembered = Table(
    "remembered",
    metadata,
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", Time, nullable=False, index=True),
)

#: Leases for one-at-a-time jobs when no Redis runs (one process).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Time, nullable=False),
)
