"""Fixtures shared by the whole suite: the two stores, a seeded contact center."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from sessions import ManualClock, Sessions
from sessions.model import Queue, QueueSettings, Role, User
from sessions.stores import MemoryStore, Store
from sessions.stores.redis import RedisStore

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def make_store(kind: str, **options: int) -> Store:
    if kind == "memory":
        return MemoryStore(**options)
    store = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}", **options)
    if not await store.ping():
        pytest.fail(f"Redis is not answering at {REDIS_URL}; the Redis suite needs a real server")
    return store


async def dispose(store: Store) -> None:
    if isinstance(store, RedisStore):
        await store.drop_all()
    await store.close()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    s = await make_store(request.param)
    yield s
    await dispose(s)


@dataclass
class World:
    """A small contact center: two queues, an admin, a supervisor and three agents."""

    sessions: Sessions
    clock: ManualClock
    admin: User
    supervisor: User
    alice: User
    bob: User
    carol: User  # member of "billing" only
    sales: Queue
    billing: Queue


async def seed(store: Store) -> World:
    clock = ManualClock()
    sessions = Sessions(store, clock)
    admin = User(id="u-admin", username="admin", name="Ada Admin", role=Role.ADMIN)
    await store.put_user(admin)
    sales = await sessions.create_queue(admin, Queue(id="sales", name="Sales", settings=QueueSettings(ring_time=15, wrap_up_limit=60)))
    billing = await sessions.create_queue(admin, Queue(id="billing", name="Billing", settings=QueueSettings(auto_complete=False)))
    supervisor = await sessions.save_user(admin, User(id="u-sup", username="sam", name="Sam Super", role=Role.SUPERVISOR, queues=["sales", "billing"]))
    alice = await sessions.save_user(admin, User(id="u-alice", username="alice", name="Alice", queues=["sales"]))
    bob = await sessions.save_user(admin, User(id="u-bob", username="bob", name="Bob", queues=["sales", "billing"]))
    carol = await sessions.save_user(admin, User(id="u-carol", username="carol", name="Carol", queues=["billing"]))
    return World(sessions, clock, admin, supervisor, alice, bob, carol, sales, billing)


@pytest.fixture
async def world(store: Store) -> World:
    return await seed(store)
