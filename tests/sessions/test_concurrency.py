"""Racing claims: however many agents grab one interaction at once, exactly one gets it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import uuid

from sessions.errors import IllegalTransition
from sessions.model import CommType, Direction, Status, Subtype, User
from sessions.stores.redis import RedisStore
from tests.conftest import REDIS_URL, World, seed


async def agents(world: World, n: int, tag: str = "") -> list[User]:
    return [await world.sessions.save_user(world.admin, User(id=f"racer{tag}{i}", username=f"racer{tag}{i}", name=f"Racer {i}", queues=["sales"])) for i in range(n)]


async def new_call(world: World) -> str:
    event = await world.sessions.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
    return event.interaction.id


async def claimed_events(world: World, ix_id: str) -> list:
    page = await world.sessions.store.events_since(None, limit=10_000)
    return [e for e in page.events if e.interaction is not None and e.interaction.id == ix_id and e.type == "interaction.claimed"]


def gate_reads(store, n: int) -> None:
    """Holds the first ``n`` reads until all ``n`` have read: every racer decides on the same version.

    Without this the racers may happen to run one after another and the test
    would pass even with no concurrency control at all.
    """
    barrier = asyncio.Barrier(n)
    read = store.get_interaction
    calls = 0

    async def gated(interaction_id: str):
        nonlocal calls
        ix = await read(interaction_id)
        calls += 1
        if calls <= n:
            await asyncio.wait_for(barrier.wait(), 30)
        return ix

    store.get_interaction = gated


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
    assert (stored.status, stored.assigned_to, stored.version) == (Status.CLAIMED, winners[0].interaction.assigned_to, 2)
    assert len(await claimed_events(world, ix_id)) == 1


RACER = textwrap.dedent(
    """
    import asyncio, json, sys
    from sessions import Sessions
    from sessions.stores.redis import RedisStore

    async def main(url, prefix, ix_id, tag, n):
        store = RedisStore(url, prefix=prefix)
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
                    await store.redis.rpush(prefix + ":ready", tag)
                    await store.redis.blpop(prefix + ":go:" + tag, timeout=30)
                    released.set()
                await released.wait()
            return ix
        store.get_interaction = gated
        results = await asyncio.gather(*(sessions.claim(u, ix_id) for u in users), return_exceptions=True)
        print(json.dumps([None if isinstance(r, BaseException) else r.interaction.assigned_to for r in results]))
        print(json.dumps(sorted({type(r).__name__ for r in results if isinstance(r, BaseException)})))
        await store.close()

    asyncio.run(main(*sys.argv[1:5], int(sys.argv[5])))
    """
)


async def test_two_processes_racing_on_redis_one_winner():
    store = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}")
    try:
        world = await seed(store)
        for tag in ("a", "b"):
            await agents(world, 25, tag)
        ix_id = await new_call(world)
        procs = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", RACER, REDIS_URL, store.prefix, ix_id, tag, "25", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for tag in ("a", "b")
        ]
        ready = [await store.redis.blpop(f"{store.prefix}:ready", timeout=30) for _ in procs]
        assert all(ready), "both racer processes read the interaction"
        for tag in ("a", "b"):
            await store.redis.rpush(f"{store.prefix}:go:{tag}", "go")
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
        await store.drop_all()
        await store.close()
