"""Customer profiles: one customer across channels and queues, found by phone then email, read within the reader's
queues."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, insert, select, text

from sessions import machine
from sessions.customers import identities, normal_email, normal_phone, search_key
from sessions.errors import InvalidCommand, NotFound
from sessions.model import CommType, Customer, Direction, Interaction, Outcome, Subtype
from sessions.queues import Queue
from sessions.routing import RoutingConfig
from sessions.stores.sql import Database, SqlStore, schema
from sessions.stores.sql.columns import interaction_row
from sessions.stores.sql.migrate import _config, migrate
from tests.conftest import STORES, World, dispose, make_store, seed
from tests.databases import async_url, drop_postgres_database, new_postgres_database


async def inbound(world: World, queue: str = "sales", **customer: str) -> Interaction:
    world.clock.advance(1)
    event = await world.sessions.route_inbound(
        type=CommType.MESSAGING, subtype=Subtype.TEXT, customer=Customer(**customer), queue_hint=queue
    )
    return event.interaction


@pytest.fixture
async def routed(world: World) -> World:
    await world.sessions.set_routing_config(world.admin, RoutingConfig(default_queue="sales"))
    return world


def test_identities_are_normalised_so_one_person_matches_however_they_typed_it():
    assert (
        normal_phone("+1 (415) 555-0100")
        == normal_phone("+14155550100")
        == normal_phone("0014155550100")
        == "+14155550100"
    )
    assert normal_phone("415 555 0100") is None, "without a country code a number could be anyone's"
    assert normal_phone("call me") is None
    assert normal_email("  Pat@Example.ORG ") == "pat@example.org"
    assert normal_email("not an address") is None
    assert search_key(" +1 415-555 ") == "+1415555"
    assert search_key("Pat") == "pat"
    with pytest.raises(InvalidCommand):
        search_key("   ")


async def test_one_customer_across_channels_and_queues(routed: World):
    s = routed.sessions
    call = (
        await s.route_inbound(
            type=CommType.CALL, subtype=Subtype.PHONE, customer=Customer(phone="+14155550100"), queue_hint="sales"
        )
    ).interaction
    text_ = await inbound(routed, "billing", phone="+1 415 555 0100", name="Pat")
    routed.clock.advance(1)
    chat = (
        await s.route_inbound(
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            customer=Customer(name="Pat", email="PAT@example.org", phone="+14155550100"),
            queue_hint="billing",
        )
    ).interaction
    stranger = await inbound(routed, phone="+14155550199")
    assert call.customer.id is not None
    assert text_.customer.id == chat.customer.id == call.customer.id
    assert stranger.customer.id not in (None, call.customer.id)
    profile = await s.store.get_customer(call.customer.id)
    assert profile.phones == ["+14155550100"] and profile.emails == ["pat@example.org"] and profile.name == "Pat"
    history = await s.customer_history(routed.admin, call.customer.id)
    assert [i.id for i in history.interactions] == [chat.id, text_.id, call.id], (
        "newest first, across queues and channels"
    )


async def test_email_finds_the_customer_when_no_phone_is_given(routed: World):
    first = (
        await routed.sessions.route_inbound(
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            customer=Customer(name="Kim", email="kim@example.org"),
            queue_hint="sales",
        )
    ).interaction
    again = (
        await routed.sessions.route_inbound(
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            customer=Customer(name="Kim", email="Kim@Example.org "),
            queue_hint="sales",
        )
    ).interaction
    anonymous = (
        await routed.sessions.route_inbound(
            type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(name="Kim"), queue_hint="sales"
        )
    ).interaction
    assert again.customer.id == first.customer.id
    assert anonymous.customer.id not in (None, first.customer.id), "a name alone is no identity: a new profile"


async def test_outbound_and_clones_are_linked_to_the_customer(routed: World):
    s, alice = routed.sessions, routed.alice
    await s.configure_queue(
        routed.admin, "sales", {"settings": {"phone_number": "+15550001000"}}
    )  # what a text follow-up is sent from
    earlier = await inbound(routed, phone="+14155550100")
    out = (
        await s.create(
            alice,
            queue_id="sales",
            direction=Direction.OUTBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.TEXT,
            customer=Customer(phone="+14155550100"),
        )
    ).interaction
    assert out.customer.id == earlier.customer.id
    await s.end(alice, out.id, Outcome.RESOLVED)
    await s.complete(alice, out.id)
    clone = (await s.clone(alice, out.id)).interaction
    assert clone.customer.id == earlier.customer.id


async def test_a_chat_customer_who_gives_a_phone_number_joins_that_numbers_history(routed: World):
    s = routed.sessions
    call = (
        await s.route_inbound(
            type=CommType.CALL, subtype=Subtype.PHONE, customer=Customer(phone="+14155550100"), queue_hint="sales"
        )
    ).interaction
    chat = (
        await s.route_inbound(
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            customer=Customer(name="Pat", email="pat@example.org"),
            queue_hint="sales",
        )
    ).interaction
    chat_profile = chat.customer.id
    assert chat_profile != call.customer.id
    edited = (
        await s.edit(routed.alice, chat.id, {"customer": {**chat.customer.model_dump(), "phone": "+1 415 555 0100"}})
    ).interaction
    assert edited.customer.id == call.customer.id
    assert edited.activity[-1].kind == "customer_linked" and edited.activity[-1].by == routed.alice.id
    assert {i.id for i in (await s.customer_history(routed.admin, call.customer.id)).interactions} == {call.id, chat.id}
    # Linking merges nothing: each profile keeps the identities it had.
    assert (await s.store.get_customer(call.customer.id)).emails == []
    old = await s.store.get_customer(chat_profile)
    assert (old.id, old.emails, old.phones) == (chat_profile, ["pat@example.org"], [])


async def test_a_new_detail_nobody_owns_joins_the_interactions_profile(routed: World):
    s = routed.sessions
    ix = await inbound(routed, phone="+14155550100")
    edited = (await s.edit(routed.alice, ix.id, {"customer": {"email": "Pat@example.org"}})).interaction
    assert edited.customer.id == ix.customer.id
    profile = await s.store.get_customer(ix.customer.id)
    assert (profile.phones, profile.emails) == (["+14155550100"], ["pat@example.org"])


async def test_an_edit_never_merges_two_profiles_nor_shows_another_queues_customer(routed: World):
    """An agent who types another queue's customer's email links their interaction to that profile, and sees of it only
    what they typed."""
    s, alice = routed.sessions, routed.alice
    victim = await inbound(routed, "billing", name="Vic Tim", phone="+14155550123", email="vic@example.org")
    mine = (
        await s.route_inbound(
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            customer=Customer(name="Anyone", email="anyone@example.org"),
            queue_hint="sales",
        )
    ).interaction
    with pytest.raises(NotFound):
        await s.customer_history(alice, victim.customer.id)
    edited = (await s.edit(alice, mine.id, {"customer": {"email": "vic@example.org"}})).interaction
    assert edited.customer.id == victim.customer.id
    seen = await s.customer_history(alice, victim.customer.id)
    assert [i.id for i in seen.interactions] == [mine.id]
    assert (seen.customer.name, seen.customer.phones, seen.customer.emails) == ("Anyone", [], ["vic@example.org"]), (
        "only what alice's own interaction says"
    )
    assert await s.search_customers(alice, "vic t") == [] and await s.search_customers(alice, "+1415555012") == []
    assert [(c.id, c.name, c.phones) for c in await s.search_customers(alice, "vic@")] == [
        (victim.customer.id, "Anyone", [])
    ]
    full = await s.customer_history(routed.admin, victim.customer.id)
    assert (full.customer.name, full.customer.phones, full.customer.emails) == (
        "Vic Tim",
        ["+14155550123"],
        ["vic@example.org"],
    )
    assert (await s.customer_history(routed.carol, victim.customer.id)).customer.name == "Vic Tim"
    # Nothing was merged: the old profile is as it was, and undoing the edit links the interaction back to it.
    undone = (await s.edit(alice, mine.id, {"customer": {"email": "anyone@example.org"}})).interaction
    assert undone.customer.id == mine.customer.id
    with pytest.raises(NotFound):
        await s.customer_history(alice, victim.customer.id)
    assert (await s.store.get_customer(victim.customer.id)).emails == ["vic@example.org"]


def test_withheld_caller_ids_are_no_phone_number():
    """Twilio's placeholders for a hidden number (ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE on a keypad) are
    nobody's number."""
    for withheld in (
        "+266696687",
        "+7378742833",
        "+2562533",
        "+8656696",
        "+86282452253",
        "anonymous",
        "Restricted",
        " +266 696 687 ",
    ):
        assert normal_phone(withheld) is None, withheld
    assert identities("+266696687", "pat@example.org") == [("email", "pat@example.org")]


async def test_anonymous_callers_are_different_customers(routed: World):
    calls = [
        (
            await routed.sessions.route_inbound(
                type=CommType.CALL, subtype=Subtype.PHONE, customer=Customer(phone=withheld), queue_hint="sales"
            )
        ).interaction
        for withheld in ("+266696687", "+266696687", "+7378742833")
    ]
    assert len({ix.customer.id for ix in calls}) == 3
    assert (await routed.sessions.store.get_customer(calls[0].customer.id)).phones == []


async def test_editing_a_name_keeps_the_profile(routed: World):
    ix = await inbound(routed, phone="+14155550100")
    edited = (
        await routed.sessions.edit(routed.alice, ix.id, {"customer": {**ix.customer.model_dump(), "name": "Pat Jones"}})
    ).interaction
    assert edited.customer.id == ix.customer.id
    assert edited.activity[-1].kind == "edited"


async def test_history_is_scoped_to_the_readers_queues(routed: World):
    s = routed.sessions
    sale = await inbound(routed, "sales", phone="+14155550100")
    bill = await inbound(routed, "billing", phone="+14155550100")
    cid = sale.customer.id
    assert [i.id for i in (await s.customer_history(routed.alice, cid)).interactions] == [sale.id]  # sales only
    assert [i.id for i in (await s.customer_history(routed.carol, cid)).interactions] == [bill.id]  # billing only
    assert len((await s.customer_history(routed.bob, cid)).interactions) == 2
    assert len((await s.customer_history(routed.admin, cid)).interactions) == 2
    only_billing = (await inbound(routed, "billing", phone="+14155550199")).customer.id
    with pytest.raises(NotFound):
        await s.customer_history(routed.alice, only_billing)
    with pytest.raises(NotFound):
        await s.customer_history(routed.admin, "no-such-customer")


async def test_search_by_name_phone_or_email_prefix_within_the_readers_queues(routed: World):
    s = routed.sessions
    pat = (await inbound(routed, "sales", phone="+14155550100", name="Pat Jones", email="pat@example.org")).customer.id
    pam = (await inbound(routed, "billing", phone="+14155550111", name="Pam Smith")).customer.id
    assert [c.id for c in await s.search_customers(routed.admin, "pa")] == [pam, pat]  # by name, in name order
    assert [c.id for c in await s.search_customers(routed.admin, "PAT")] == [pat]
    assert [c.id for c in await s.search_customers(routed.admin, "+1 415 555 01")] == [pam, pat]
    assert [c.id for c in await s.search_customers(routed.admin, "1415555011")] == [pam], (
        "digits without the + still match"
    )
    assert [c.id for c in await s.search_customers(routed.admin, "pat@ex")] == [pat]
    assert [c.id for c in await s.search_customers(routed.alice, "pa")] == [pat], "alice is not in billing"
    assert [c.id for c in await s.search_customers(routed.carol, "pa")] == [pam]
    assert await s.search_customers(routed.admin, "zz") == []
    assert [c.id for c in await s.search_customers(routed.admin, "p_t")] == [], "no wildcard in a prefix"


async def test_new_contacts_from_one_number_at_once_make_one_profile(routed: World):
    contacts = await asyncio.gather(*(inbound(routed, phone="+14155550142") for _ in range(8)))
    assert len({ix.customer.id for ix in contacts}) == 1
    assert len((await routed.sessions.customer_history(routed.admin, contacts[0].customer.id)).interactions) == 8


async def test_a_customers_interactions_are_read_through_an_index(world: World):
    store = world.sessions.store
    assert isinstance(store, SqlStore)
    stmt = store.customer_interactions_query("c1", {"sales", "billing"})
    assert stmt is not None
    sql = str(stmt.limit(50).compile(dialect=store.db.writer.dialect, compile_kwargs={"literal_binds": True}))
    async with store.db.read() as conn:
        rows = (await conn.execute(text(("EXPLAIN QUERY PLAN " if store.db.is_sqlite else "EXPLAIN ") + sql))).all()
    plan = "\n".join(str(r[-1]) for r in rows)
    if store.db.is_sqlite:
        assert "USING INDEX ix_interactions_customer_id" in plan and "SCAN interactions" not in plan, plan
    else:
        assert "Seq Scan on interactions" not in plan, plan


@pytest.fixture(params=STORES)
async def before_profiles(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """A contact center whose database is taken back to 0006, as it was before customer profiles (its own database: the
    schema changes)."""
    url = None if request.param == "sqlite" else await new_postgres_database()
    store = await make_store("sqlite") if url is None else SqlStore(Database(async_url(url)))
    world = await seed(store)
    await world.sessions.set_routing_config(world.admin, RoutingConfig(default_queue="sales"))

    def downgrade(conn: Connection) -> None:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")

    async with store.db.writer.begin() as conn:
        await conn.run_sync(downgrade)
    yield world
    if url is None:
        await dispose(store)
    else:
        await store.close()
        await drop_postgres_database(url)


async def stored_before_profiles(store: SqlStore, ix: Interaction) -> None:
    """Stores ``ix`` as the code before 0007 did: no customer id in its document, no customer column."""
    row = interaction_row(ix.model_copy(update={"customer": ix.customer.model_copy(update={"id": None})}))
    doc = json.loads(row.pop("doc"))
    doc["customer"].pop("id")
    row.pop("customer_id")
    async with store.db.write() as conn:
        await conn.execute(insert(schema.interactions), [{**row, "doc": json.dumps(doc)}])


async def test_the_upgrade_links_interactions_stored_before_profiles(before_profiles: World):
    """Migration 0007 gives every earlier interaction a profile, grouped by phone then email, so a returning caller's
    history is there."""
    world = before_profiles
    store = world.sessions.store
    assert isinstance(store, SqlStore)
    queue, at = world.sales, world.clock.now()

    def old(n: int, queue: Queue = queue, **customer: str) -> Interaction:
        return machine.create(
            id=f"old-{n}",
            queue=queue,
            direction=Direction.INBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.TEXT,
            now=at - timedelta(seconds=5000 - n),
            actor=None,
            customer=Customer(**customer),
        ).interaction

    earlier = [
        old(1, phone="+14155550100", name="Pat"),
        old(2, world.billing, phone="+1 415 555 0100", email="pat@example.org"),
        old(3, email="PAT@example.org"),  # the same person, by the email an earlier contact gave with the number
        old(4, phone="+266696687"),
        old(5, phone="+266696687"),  # anonymous callers are nobody in particular
        old(6, phone="+14155550199", name="Sam"),
        old(7),
    ]
    # More than one batch, sharing numbers across batches.
    bulk = [old(100 + n, phone=f"+1415600{n % 400:04d}") for n in range(1100)]
    for ix in earlier + bulk:
        await stored_before_profiles(store, ix)

    await migrate(store.db)

    got = {ix.id: (await store.get_interaction(ix.id)).customer.id for ix in earlier}
    async with store.db.read() as conn:
        columns = dict((await conn.execute(select(schema.interactions.c.id, schema.interactions.c.customer_id))).all())
    assert None not in columns.values() and all(columns[k] == v for k, v in got.items()), (
        "the column and the document agree"
    )
    pat = got["old-1"]
    assert got["old-2"] == got["old-3"] == pat
    assert len({pat, got["old-4"], got["old-5"], got["old-6"], got["old-7"]}) == 5
    assert len({columns[ix.id] for ix in bulk}) == 400
    profile = await store.get_customer(pat)
    assert (profile.name, profile.phones, profile.emails) == ("Pat", ["+14155550100"], ["pat@example.org"])
    assert (await store.get_customer(got["old-6"])).name == "Sam"

    back = await inbound(world, phone="+14155550100")
    assert back.customer.id == pat
    history = await world.sessions.customer_history(world.bob, pat)
    assert [i.id for i in history.interactions] == [back.id, "old-3", "old-2", "old-1"]
