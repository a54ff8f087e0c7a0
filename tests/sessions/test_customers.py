"""Customer profiles: one customer across channels and queues, found by phone then email, read within the reader's queues."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from sessions.customers import normal_email, normal_phone, search_key
from sessions.errors import InvalidCommand, NotFound
from sessions.model import CommType, Customer, Direction, Interaction, Outcome, Subtype
from sessions.routing import RoutingConfig
from sessions.stores.sql import SqlStore
from tests.conftest import World


async def inbound(world: World, queue: str = "sales", **customer: str) -> Interaction:
    world.clock.advance(1)
    event = await world.sessions.route_inbound(type=CommType.MESSAGING, subtype=Subtype.TEXT, customer=Customer(**customer), queue_hint=queue)
    return event.interaction


@pytest.fixture
async def routed(world: World) -> World:
    await world.sessions.set_routing_config(world.admin, RoutingConfig(default_queue="sales"))
    return world


def test_identities_are_normalised_so_one_person_matches_however_they_typed_it():
    assert normal_phone("+1 (415) 555-0100") == normal_phone("+14155550100") == normal_phone("0014155550100") == "+14155550100"
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
    call = (await s.route_inbound(type=CommType.CALL, subtype=Subtype.PHONE, customer=Customer(phone="+14155550100"), queue_hint="sales")).interaction
    text_ = await inbound(routed, "billing", phone="+1 415 555 0100", name="Pat")
    routed.clock.advance(1)
    chat = (await s.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(name="Pat", email="PAT@example.org", phone="+14155550100"),
                                  queue_hint="billing")).interaction
    stranger = await inbound(routed, phone="+14155550199")
    assert call.customer.id is not None
    assert text_.customer.id == chat.customer.id == call.customer.id
    assert stranger.customer.id not in (None, call.customer.id)
    profile = await s.store.get_customer(call.customer.id)
    assert profile.phones == ["+14155550100"] and profile.emails == ["pat@example.org"] and profile.name == "Pat"
    history = await s.customer_history(routed.admin, call.customer.id)
    assert [i.id for i in history.interactions] == [chat.id, text_.id, call.id], "newest first, across queues and channels"


async def test_email_finds_the_customer_when_no_phone_is_given(routed: World):
    first = (await routed.sessions.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(name="Kim", email="kim@example.org"),
                                                 queue_hint="sales")).interaction
    again = (await routed.sessions.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(name="Kim", email="Kim@Example.org "),
                                                 queue_hint="sales")).interaction
    anonymous = (await routed.sessions.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(name="Kim"), queue_hint="sales")).interaction
    assert again.customer.id == first.customer.id
    assert anonymous.customer.id not in (None, first.customer.id), "a name alone is no identity: a new profile"


async def test_outbound_and_clones_are_linked_to_the_customer(routed: World):
    s, alice = routed.sessions, routed.alice
    await s.configure_queue(routed.admin, "sales", {"settings": {"phone_number": "+15550001000"}})  # what a text follow-up is sent from
    earlier = await inbound(routed, phone="+14155550100")
    out = (await s.create(alice, queue_id="sales", direction=Direction.OUTBOUND, type=CommType.MESSAGING, subtype=Subtype.TEXT,
                          customer=Customer(phone="+14155550100"))).interaction
    assert out.customer.id == earlier.customer.id
    await s.end(alice, out.id, Outcome.RESOLVED)
    await s.complete(alice, out.id)
    clone = (await s.clone(alice, out.id)).interaction
    assert clone.customer.id == earlier.customer.id


async def test_a_chat_customer_who_gives_a_phone_number_joins_that_numbers_history(routed: World):
    s = routed.sessions
    call = (await s.route_inbound(type=CommType.CALL, subtype=Subtype.PHONE, customer=Customer(phone="+14155550100"), queue_hint="sales")).interaction
    chat = (await s.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(name="Pat", email="pat@example.org"),
                                  queue_hint="sales")).interaction
    chat_profile = chat.customer.id
    assert chat_profile != call.customer.id
    edited = (await s.edit(routed.alice, chat.id, {"customer": {**chat.customer.model_dump(), "phone": "+1 415 555 0100"}})).interaction
    assert edited.customer.id == call.customer.id
    assert edited.activity[-1].kind == "customer_linked" and edited.activity[-1].by == routed.alice.id
    # The chat profile is now the number's: its email too, and reading it by its old id finds the survivor.
    profile = await s.store.get_customer(chat_profile)
    assert profile.id == call.customer.id and profile.emails == ["pat@example.org"] and profile.phones == ["+14155550100"]
    later = (await s.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(email="pat@example.org"), queue_hint="sales")).interaction
    assert later.customer.id == call.customer.id
    assert {i.id for i in (await s.customer_history(routed.admin, call.customer.id)).interactions} == {call.id, chat.id, later.id}


async def test_editing_a_name_keeps_the_profile(routed: World):
    ix = await inbound(routed, phone="+14155550100")
    edited = (await routed.sessions.edit(routed.alice, ix.id, {"customer": {**ix.customer.model_dump(), "name": "Pat Jones"}})).interaction
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
    assert [c.id for c in await s.search_customers(routed.admin, "1415555011")] == [pam], "digits without the + still match"
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
