"""Where each live call runs, as the processes see it: a registry with expiries, in the store's live maps."""

from __future__ import annotations

import uuid

import pytest

from sessions import Sessions
from sessions.call_homes import CallHome
from sessions.stores.live import LiveStore
from sessions.stores.sql import Database, SqlStore
from tests.conftest import REDIS_URL, World
from tests.sessions.test_live import drop_prefix


async def test_a_registered_node_is_found_until_its_registration_expires(world: World):
    s = world.sessions
    await s.register_node("node-a", "http://127.0.0.1:9001", ttl=3)
    assert await s.node_url("node-a") == "http://127.0.0.1:9001"
    assert await s.node_url("node-b") is None
    world.clock.advance(3.5)
    assert await s.node_url("node-a") is None, "a process that stopped renewing is gone"
    await s.register_node("node-a", "http://127.0.0.1:9001", ttl=3)
    await s.forget_node("node-a")
    assert await s.node_url("node-a") is None


async def test_the_caller_stream_wins_the_home_and_learns_the_one_before(world: World):
    s = world.sessions
    assert await s.claim_call_home("ix-1", "node-a", "rec-1", ttl=3) is None, "a new call had no home"
    assert await s.claim_call_home("ix-1", "node-a", "rec-1", ttl=3) is None, "its own home again: nothing before"
    before = await s.claim_call_home("ix-1", "node-b", "rec-2", ttl=3)
    assert (before.node, before.recording_id) == ("node-a", "rec-1")
    home = await s.call_home("ix-1")
    assert (home.node, home.recording_id, home.lost_at) == ("node-b", "rec-2", None)


async def test_a_home_expires_unless_renewed_and_renewal_never_takes_a_later_claim(world: World):
    s = world.sessions
    a_claimed = world.clock.now().timestamp()
    await s.claim_call_home("ix-1", "node-a", "rec-1", ttl=3)
    world.clock.advance(2)
    await s.refresh_call_homes("node-a", {"ix-1": ("rec-1", a_claimed)}, ttl=3)
    world.clock.advance(2)
    assert (await s.call_home("ix-1")).node == "node-a", "renewed"
    b_claimed = world.clock.now().timestamp()
    await s.claim_call_home("ix-1", "node-b", "rec-2", ttl=3)
    await s.refresh_call_homes("node-a", {"ix-1": ("rec-1", a_claimed)}, ttl=3)
    assert (await s.call_home("ix-1")).node == "node-b", "a late renewal of the old home changes nothing"
    await s.refresh_call_homes("node-b", {"ix-1": ("rec-2", b_claimed)}, ttl=3)
    world.clock.advance(3.5)
    assert await s.call_home("ix-1") is None
    before = await s.claim_call_home("ix-1", "node-c", "rec-3", ttl=3)
    assert before is not None and before.node == "node-b", "an expired home is still answered: its part is left"


async def test_release_is_only_the_holders_and_the_loss_is_stamped_once(world: World):
    s = world.sessions
    await s.claim_call_home("ix-1", "node-a", "rec-1", ttl=3)
    await s.release_call_home("ix-1", "node-b")
    assert (await s.call_home("ix-1")).node == "node-a"
    lost_at = world.clock.now().timestamp()
    await s.note_stream_lost("ix-1")
    world.clock.advance(1)
    await s.note_stream_lost("ix-1")  # Twilio retried its action request
    assert (await s.call_home("ix-1")).lost_at == lost_at, "the silence started at the first report"
    await s.release_call_home("ix-1", "node-a")
    assert await s.call_home("ix-1") is None


async def test_unreadable_entries_count_as_absent(world: World):
    await world.sessions.store.map_set("call_homes", "ix-1", "{not json")
    assert await world.sessions.call_home("ix-1") is None
    assert CallHome.from_json("[1, 2]") is None


@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # Redis is the live layer only over PostgreSQL
async def test_with_redis_every_process_sees_the_same_homes(store: SqlStore):
    prefix = f"test:{uuid.uuid4().hex}"
    a = LiveStore(SqlStore(Database(store.db.url)), REDIS_URL, prefix=prefix)
    b = LiveStore(SqlStore(Database(store.db.url)), REDIS_URL, prefix=prefix)
    try:
        await Sessions(a).register_node("node-a", "http://127.0.0.1:9001", ttl=3)
        await Sessions(a).claim_call_home("ix-1", "node-a", "rec-1", ttl=3)
        assert await Sessions(b).node_url("node-a") == "http://127.0.0.1:9001"
        assert (await Sessions(b).call_home("ix-1")).node == "node-a"
        assert await a.redis.hexists(a.key("map", "call_homes"), "ix-1"), "kept in Redis, not in SQL"
    finally:
        await drop_prefix(a)
        await a.close()
        await b.close()


async def test_a_handed_off_home_is_answered_to_the_stream_that_comes_back_even_to_the_same_node(world: World):
    s = world.sessions
    assert await s.claim_call_home("ix-1", "node-a", "MZ1", ttl=3) is None
    await s.hand_off_call_home("ix-1", "node-b")
    assert not (await s.call_home("ix-1")).handed_off, "only the home's own node hands it off"
    await s.hand_off_call_home("ix-1", "node-a")
    world.clock.advance(1)
    before = await s.claim_call_home("ix-1", "node-a", "MZ2", ttl=3)
    assert before is not None and (before.node, before.recording_id, before.handed_off) == ("node-a", "MZ1", True)
    assert before.lost_at is not None and before.lost_at < world.clock.now().timestamp(), "silence from the hand-off"
    assert await s.claim_call_home("ix-1", "node-a", "MZ2", ttl=3) is None, "its own live home again: nothing"


async def test_the_later_claim_takes_the_home_back_from_an_old_homes_renewal_that_overwrote_it(world: World):
    """The old home read its entry, the new home claimed, then the old home's write landed: the entry names the old
    home again.  The new home's next renewal puts it right (else the call would have a home that no longer holds
    it, and every forwarded leg would get 409)."""
    s = world.sessions
    a_claimed = world.clock.now().timestamp()
    await s.claim_call_home("ix-1", "node-a", "rec-1", ttl=3)
    world.clock.advance(1)
    b_claimed = world.clock.now().timestamp()
    await s.claim_call_home("ix-1", "node-b", "rec-2", ttl=3)
    stale = CallHome("ix-1", "node-a", "rec-1", world.clock.now().timestamp() + 3, claimed_at=a_claimed)
    await s.store.map_set("call_homes", "ix-1", stale.to_json())  # the old home's racing write
    await s.refresh_call_homes("node-b", {"ix-1": ("rec-2", b_claimed)}, ttl=3)
    home = await s.call_home("ix-1")
    assert (home.node, home.recording_id, home.claimed_at) == ("node-b", "rec-2", b_claimed)


async def test_registrations_and_homes_long_expired_are_forgotten(world: World):
    s = world.sessions
    await s.register_node("node-dead", "http://127.0.0.1:9001", ttl=3)
    await s.claim_call_home("ix-dead", "node-dead", "MZ1", ttl=3)
    await s.store.map_set("nodes", "node-garbled", "{not json")
    world.clock.advance(3600)
    await s.register_node("node-alive", "http://127.0.0.1:9002", ttl=3)
    await s.claim_call_home("ix-alive", "node-alive", "MZ2", ttl=3)
    assert await s.forget_expired_nodes() == 1, "expired less than an hour ago: kept a while longer"
    assert set(await s.store.map_all("nodes")) == {"node-dead", "node-alive"}
    world.clock.advance(5)
    assert await s.forget_expired_nodes() == 1 and await s.forget_expired_call_homes() == 1
    assert set(await s.store.map_all("nodes")) == {"node-alive"}, "a killed process's entry goes"
    assert set(await s.store.map_all("call_homes")) == {"ix-alive"}
