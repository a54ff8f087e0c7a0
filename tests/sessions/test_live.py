"""The live layer: SQL keeps the record, Redis carries leases, live maps and the event fan-out.

Two LiveStores on one PostgreSQL database and one Redis prefix stand for two
gateway processes.  Whatever happens to Redis (trimmed stream, keys flushed,
server restarted empty), a follower sees every committed event once, in
cursor order, because the relay refills the stream from SQL and a follower
that finds a gap reads that page from SQL.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sessions import Sessions
from sessions.errors import StoreUnavailable
from sessions.events import Event, EventType
from sessions.model import CommType, Direction, Role, Subtype, User
from sessions.queues import Queue
from sessions.stores.live import LiveStore
from sessions.stores.sql import Database, SqlStore
from tests.conftest import REDIS_URL
from tests.databases import async_url, drop_postgres_database, new_postgres_database
from tests.processes import private_redis


def event(n: int) -> Event:
    return Event(type=EventType.QUEUE_METRICS, at=datetime.now(UTC), data={"n": n})


async def drop_prefix(store: LiveStore) -> None:
    keys = [k async for k in store.redis.scan_iter(match=store.key("*"), count=1000)]
    if keys:
        await store.redis.delete(*keys)


async def follow(store: LiveStore, after: str, count: int) -> list[Event]:
    """Reads with ``wait_events`` (as the hub does, retrying while Redis is away) until ``count`` events came."""
    got: list[Event] = []
    async with asyncio.timeout(30):
        while len(got) < count:
            try:
                page = await store.wait_events(after, 1.0)
            except (StoreUnavailable, OSError):
                await asyncio.sleep(0.05)
                continue
            got += page
            after = page[-1].id if page else after
    return got


async def stream_ids(store: LiveStore) -> list[int]:
    return [int(eid.split("-", 1)[1]) for eid, _ in await store.redis.xrange(store.key("events"))]


class Processes:
    """Two stores on one database and Redis prefix, each with its relay running, as two gateway processes."""

    def __init__(self, db_url: str, redis_url: str, prefix: str, *, relaying: bool = True, **options: int) -> None:
        self.a = LiveStore(SqlStore(Database(db_url)), redis_url, prefix=prefix, **options)
        self.b = LiveStore(SqlStore(Database(db_url)), redis_url, prefix=prefix, **options)
        # Without ``relaying`` no relay runs by itself: the test steps them.
        self.relays = (
            [asyncio.create_task(s.relay_forever(owner)) for s, owner in ((self.a, "a"), (self.b, "b"))]
            if relaying
            else []
        )

    async def close(self) -> None:
        for task in self.relays:
            task.cancel()
        await asyncio.gather(*self.relays, return_exceptions=True)
        await drop_prefix(self.a)
        await self.a.close()
        await self.b.close()


@pytest.fixture
async def db_url() -> AsyncIterator[str]:
    url = await new_postgres_database()
    yield async_url(url)
    await drop_postgres_database(url)


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[Processes]:
    procs = Processes(db_url, REDIS_URL, f"test:{uuid.uuid4().hex}")
    yield procs
    await procs.close()


@pytest.fixture
async def two_stepped(db_url: str) -> AsyncIterator[Processes]:
    """Two processes whose relays run only when the test steps them."""
    procs = Processes(db_url, REDIS_URL, f"test:{uuid.uuid4().hex}", relaying=False)
    yield procs
    await procs.close()


async def test_events_from_both_processes_reach_a_follower_in_cursor_order_exactly_once(two: Processes):
    start = await two.a.last_cursor() or "0"
    follower = asyncio.create_task(follow(two.b, start, 40))
    committed = await asyncio.gather(*(store.publish(event(n)) for n in range(20) for store in (two.a, two.b)))
    got = await follower
    assert [e.id for e in got] == sorted((e.id for e in committed), key=int)
    assert sorted(e.data["n"] for e in got) == sorted(list(range(20)) * 2)
    assert await stream_ids(two.a) == [int(e.id) for e in got], "the stream holds each event once, in cursor order"


async def test_interaction_changes_are_relayed_like_any_event(two: Processes):
    admin = User(id="u-admin", username="admin", name="Admin", role=Role.ADMIN)
    await two.a.put_user(admin)
    sessions = Sessions(two.a)
    await sessions.create_queue(admin, Queue(id="sales", name="Sales"))
    after = await two.b.last_cursor() or "0"
    created = await sessions.create(
        admin, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE
    )
    got = await follow(two.b, after, 1)
    assert (
        got[0].id == created.id and got[0].interaction is not None and got[0].interaction.id == created.interaction.id
    )


async def test_only_the_holder_of_the_relay_lease_relays(two_stepped: Processes):
    a, b = two_stepped.a, two_stepped.b
    committed = [await a.publish(event(n)) for n in range(3)]
    assert await a.relay_step("a") is True
    assert await b.relay_step("b") is False, "a holds the lease"
    assert await stream_ids(a) == [int(e.id) for e in committed]
    await a.release("relay", "a")
    more = await b.publish(event(3))
    assert await b.relay_step("b") is True
    assert await stream_ids(b) == [int(e.id) for e in [*committed, more]]


async def test_two_relays_racing_add_each_event_once(two_stepped: Processes):
    """Should a lease expire mid-batch, two relays run at once: ids already in the stream are skipped."""
    a, b = two_stepped.a, two_stepped.b
    committed = [await a.publish(event(n)) for n in range(30)]
    await asyncio.gather(*(s.relay_once(batch=7) for s in (a, b, a, b)))
    assert await stream_ids(a) == [int(e.id) for e in committed]
    got = await follow(b, "0", 30)
    assert [e.id for e in got] == [e.id for e in committed]


async def test_a_follower_behind_the_trimmed_stream_gets_every_event_from_sql(db_url: str):
    procs = Processes(db_url, REDIS_URL, f"test:{uuid.uuid4().hex}", max_events=10)
    try:
        committed = [await procs.a.publish(event(n)) for n in range(250)]
        await procs.a.relay_once()  # whichever relay holds the lease may not have caught up yet
        kept = await stream_ids(procs.a)
        assert kept[-1] == int(committed[-1].id) and kept[0] > int(committed[0].id), (
            "precondition: the stream was trimmed"
        )
        got = await follow(procs.b, "0", 250)
        assert [e.id for e in got] == [e.id for e in committed]
    finally:
        await procs.close()


async def test_flushing_redis_mid_stream_loses_nothing(two: Processes):
    start = await two.a.last_cursor() or "0"
    follower = asyncio.create_task(follow(two.b, start, 30))
    before = [await two.a.publish(event(n)) for n in range(10)]
    # Everything under the prefix goes (stream, leases, wake list), some of it before the follower read it.
    await drop_prefix(two.a)
    during = [await (two.a, two.b)[n % 2].publish(event(n)) for n in range(10, 20)]
    await drop_prefix(two.a)
    after = [await two.b.publish(event(n)) for n in range(20, 30)]
    expected = [e.id for e in before + during + after]
    assert [e.id for e in await follower] == expected
    late = await follow(two.a, start, 30)  # it starts behind what the stream still holds
    assert [e.id for e in late] == expected


async def test_redis_restarting_empty_loses_nothing(db_url: str, tmp_path: Path):
    with private_redis(str(tmp_path)) as (port, stop, start):
        procs = Processes(db_url, f"redis://127.0.0.1:{port}/0", f"test:{uuid.uuid4().hex}")
        try:
            first = await procs.a.last_cursor() or "0"
            follower = asyncio.create_task(follow(procs.b, first, 30))
            before = [await procs.a.publish(event(n)) for n in range(10)]
            stop()
            shutil.rmtree(tmp_path / "appendonlydir")  # it comes back with nothing: the live layer is not the record
            during = [await procs.b.publish(event(n)) for n in range(10, 20)]  # the record takes writes without Redis
            start()
            after = [await procs.a.publish(event(n)) for n in range(20, 30)]
            expected = [e.id for e in before + during + after]
            assert [e.id for e in await follower] == expected
            late = await follow(procs.a, first, 30)  # it starts behind what the stream still holds
            assert [e.id for e in late] == expected
        finally:
            await procs.close()


async def test_live_maps_are_in_redis_and_records_in_sql(two: Processes):
    await two.a.map_set("presence", "u-alice", "available")
    await two.a.map_set("config", "routing", "{}")
    assert await two.b.map_get("presence", "u-alice") == "available"
    assert await two.a.redis.hget(two.a.key("map", "presence"), "u-alice") == "available"
    assert await two.b.sql.map_all("config") == {"routing": "{}"} and await two.b.map_get("config", "routing") == "{}"
    assert await two.a.sql.map_get("presence", "u-alice") is None
    await drop_prefix(two.a)
    assert await two.b.map_all("presence") == {} and await two.b.map_all("config") == {"routing": "{}"}, (
        "a Redis reset forgets only live state"
    )


async def test_webhook_dedupe_survives_a_redis_reset(two: Processes):
    assert await two.a.remember("twilio:SM1", "seen", 3600) is True
    await drop_prefix(two.a)
    assert await two.b.remember("twilio:SM1", "seen", 3600) is False, "a retried webhook is still recognised"


async def test_redis_out_of_reach_is_a_store_outage_not_a_redis_error(db_url: str, tmp_path: Path):
    """Callers above the store (the hub, the HTTP errors) know one outage, StoreUnavailable, whatever layer is down."""
    with private_redis(str(tmp_path)) as (port, stop, _):
        store = LiveStore(SqlStore(Database(db_url)), f"redis://127.0.0.1:{port}/0", prefix=f"test:{uuid.uuid4().hex}")
        try:
            stop()
            for read in (
                lambda: store.map_get("presence", "u-alice"),
                lambda: store.map_set("presence", "u-alice", "away"),
                lambda: store.map_all("presence"),
                lambda: store.map_delete("presence", "u-alice"),
                lambda: store.lease("maintenance", "a", 5),
                lambda: store.release("maintenance", "a"),
                lambda: store.wait_events("0", 0.1),
                lambda: store.relay_once(),
            ):
                with pytest.raises(StoreUnavailable):
                    await read()
            assert await store.map_get("config", "routing") is None, "the record's own maps stay readable"
        finally:
            await store.close()


async def test_a_quiet_log_is_waited_on_longer_than_redis_pys_default_read_timeout(two: Processes):
    """redis-py 8 reads with a 5 s timeout by default: a blocking read of a quiet stream longer than that must end
    empty, not in a timeout (which, retried, made every gateway unready after 20 s without events)."""
    assert await two.a.wait_events(await two.a.last_cursor(), 6.0) == []
