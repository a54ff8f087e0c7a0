"""Fixtures shared by the whole suite: the two stores, a seeded contact center."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sessions import ManualClock, Sessions
from sessions.model import Role, User
from sessions.queues import Queue, QueueSettings
from sessions.stores import Store
from sessions.stores.sql import Database, SqlStore
from tests.databases import async_url, clean_postgres_database, drop_templates, prepare_sqlite_template, sqlite_url
from tests.processes import GatewayProcess, chat_gateway

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The stores of record every contract test runs on.
STORES = ["sqlite", "postgres"]
CHAT_ADMIN_TOKEN = "chat-admin-token"
CHAT_ADMIN = {"Authorization": f"Bearer {CHAT_ADMIN_TOKEN}"}


async def make_store(kind: str) -> SqlStore:
    """A store on a fresh, migrated database of this kind."""
    if kind == "sqlite":
        return SqlStore(Database(sqlite_url(Path(tempfile.mkdtemp(prefix="switchboard-test-")))))
    return SqlStore(Database(async_url(await clean_postgres_database())))


async def dispose(store: Store) -> None:
    assert isinstance(store, SqlStore)
    await store.close()
    if store.db.is_sqlite:
        path = Path(store.db.url.split(":///", 1)[1])
        for f in path.parent.glob(path.name + "*"):
            f.unlink()
        path.parent.rmdir()
    # PostgreSQL: the shared database is emptied by the next make_store, and dropped at the end of the run.


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    s = await make_store(request.param)
    yield s
    await dispose(s)


@pytest.fixture(scope="session", autouse=True)
def _template_databases() -> Iterator[None]:
    prepare_sqlite_template()
    yield
    drop_templates()


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
    sales = await sessions.create_queue(
        admin, Queue(id="sales", name="Sales", settings=QueueSettings(ring_time=15, wrap_up_limit=60))
    )
    billing = await sessions.create_queue(
        admin, Queue(id="billing", name="Billing", settings=QueueSettings(auto_complete=False))
    )
    supervisor = await sessions.save_user(
        admin, User(id="u-sup", username="sam", name="Sam Super", role=Role.SUPERVISOR, queues=["sales", "billing"])
    )
    alice = await sessions.save_user(admin, User(id="u-alice", username="alice", name="Alice", queues=["sales"]))
    bob = await sessions.save_user(admin, User(id="u-bob", username="bob", name="Bob", queues=["sales", "billing"]))
    carol = await sessions.save_user(admin, User(id="u-carol", username="carol", name="Carol", queues=["billing"]))
    return World(sessions, clock, admin, supervisor, alice, bob, carol, sales, billing)


@pytest.fixture
async def world(store: Store) -> World:
    return await seed(store)


@pytest.fixture(scope="module")
def chat_server() -> Iterator[GatewayProcess]:
    """A gateway process for the module's chat widget scenarios: web chats route to queue "web", answered by agent
    alice (password "correct horse"); the admin's headers are ``CHAT_ADMIN``."""
    with chat_gateway(CHAT_ADMIN_TOKEN) as gp:
        yield gp
