"""Racing claims: however many agents grab one interaction at once, exactly one gets it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import textwrap
import uuid

import redis.asyncio as aioredis

from sessions.errors import IllegalTransition
from sessions.model import CommType, Direction, Status, Subtype, User
from tests.conftest import REDIS_URL, World, dispose, make_store, seed
from tests.sessions.races import gate_reads


async def agents(world: World, n: int, tag: str = "") -> list[User]:
    return [
        await world.sessions.save_user(
            world.admin, User(id=f"racer{tag}{i}", username=f"racer{tag}{i}", name=f"Racer {i}", queues=["sales"])
        )
        for i in range(n)
    ]


async def new_call(world: World) -> str:
    event = await world.sessions.create(
        None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE
    )
    return event.interaction.id


async def claimed_events(world: World, ix_id: str) -> list:
    page = await world.sessions.store.events_since(None, limit=10_000)
    return [
        e
        for e in page.events
        if e.interaction is not None and e.interaction.id == ix_id and e.type == "interaction.claimed"
    ]


async def test_fifty_concurrent_claims_one_winner(world: World):
    racers = await agents(world, 50)
    ix_id = await new_call(world)
    gate_reads(world.sessions.store, 50)
    results = await asyncio.gather(*(world.sessions.claim(a, ix_id) for a in racers), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(e, IllegalTransition) for e in losers), {type(e) for e in losers}
    stored = await world.sessions.store.get_interaction(ix_id)
    assert (stored.status, stored.assigned_to, stored.version) == (
        Status.CLAIMED,
        winners[0].interaction.assigned_to,
        2,
    )
    assert len(await claimed_events(world, ix_id)) == 1


RACER = textwrap.dedent(
    """
    import asyncio, json, sys
    import redis.asyncio as aioredis
    from sessions import Sessions
    from sessions.stores.sql import Database, SqlStore

    async def main(db_url, redis_url, rendezvous, ix_id, tag, n):
        store = SqlStore(Database(db_url))
        meet = aioredis.Redis.from_url(redis_url)
        sessions = Sessions(store)
        users = [await store.get_user(f"racer{tag}{i}") for i in range(n)]
        # Every racer of both processes reads version 1 before any commits:
        # a local barrier, then a rendezvous with the other process via the test.
        barrier, released, read, calls = asyncio.Barrier(n), asyncio.Event(), store.get_interaction, 0
        async def gated(interaction_id):
            nonlocal calls
            ix = await read(interaction_id)
            calls += 1
            if calls <= n:
                if await barrier.wait() == 0:
                    await meet.rpush(rendezvous + ":ready", tag)
                    await meet.blpop(rendezvous + ":go:" + tag, timeout=30)
                    released.set()
                await released.wait()
            return ix
        store.get_interaction = gated
        results = await asyncio.gather(*(sessions.claim(u, ix_id) for u in users), return_exceptions=True)
        print(json.dumps([None if isinstance(r, BaseException) else r.interaction.assigned_to for r in results]))
        print(json.dumps(sorted({type(r).__name__ for r in results if isinstance(r, BaseException)})))
        await store.close()
        await meet.aclose()

    asyncio.run(main(*sys.argv[1:6], int(sys.argv[6])))
    """
)


async def test_two_processes_racing_on_postgres_one_winner():
    store = await make_store("postgres")
    meet = aioredis.Redis.from_url(REDIS_URL)
    rendezvous = f"test:{uuid.uuid4().hex}"
    try:
        world = await seed(store)
        for tag in ("a", "b"):
            await agents(world, 25, tag)
        ix_id = await new_call(world)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                RACER,
                store.db.url,
                REDIS_URL,
                rendezvous,
                ix_id,
                tag,
                "25",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for tag in ("a", "b")
        ]
        ready = [await meet.blpop(f"{rendezvous}:ready", timeout=30) for _ in procs]
        assert all(ready), "both racer processes read the interaction"
        for tag in ("a", "b"):
            await meet.rpush(f"{rendezvous}:go:{tag}", "go")
        outputs = [await asyncio.wait_for(p.communicate(), 60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1].decode() for o in outputs]
        winners, errors = [], set()
        for out, _ in outputs:
            lines = out.decode().splitlines()
            winners += [w for w in json.loads(lines[0]) if w is not None]
            errors |= set(json.loads(lines[1]))
        assert len(winners) == 1 and errors == {"IllegalTransition"}
        stored = await store.get_interaction(ix_id)
        assert stored.assigned_to == winners[0] and stored.version == 2
        assert len(await claimed_events(world, ix_id)) == 1
    finally:
        await meet.delete(f"{rendezvous}:ready", f"{rendezvous}:go:a", f"{rendezvous}:go:b")
        await meet.aclose()
        await dispose(store)


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime, timezone
    from sessions.events import Event
    from sessions.stores.sql import Database, SqlStore

    async def main(db_url, n):
        store = SqlStore(Database(db_url, pool_size=8))
        at = datetime.now(timezone.utc)
        await asyncio.gather(*(store.publish(Event(type="queue.metrics", at=at, queues=["sales"])) for _ in range(n)))
        await store.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_a_reader_following_the_log_misses_no_event_of_concurrent_writers():
    """Ids are taken at insert but visible at commit: unserialised writers would let a follower skip one."""
    store = await make_store("postgres")
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER, store.db.url, "400", stderr=subprocess.PIPE
            )
            for _ in range(3)
        ]
        seen: list[str] = []
        cursor = None
        while True:
            done = all(p.returncode is not None for p in procs)
            page = await store.events_since(cursor, limit=1000)
            seen += [e.id for e in page.events]
            cursor = page.last
            if done and not page.events:
                break
            if not page.events:
                await store.wait_events(cursor, timeout=0.01)  # only paces the loop; the check is below
            for p in procs:
                if p.returncode is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(p.wait(), 0.001)
        errors = [(await p.stderr.read()).decode() for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        everything = (await store.events_since(None, limit=10_000)).events
        assert len(everything) == 1200
        assert seen == [e.id for e in everything]
    finally:
        await dispose(store)
