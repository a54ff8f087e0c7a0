"""History search: every filter, keyset paging, the access rule, the export walk, and that the searches read indexes.

Runs on both stores of record (the ``store``/``world`` fixtures).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import insert, text

from sessions.errors import InvalidCursor, PermissionDenied
from sessions.history import HistoryFilter, encode_cursor, may_export, searchable_queues
from sessions.model import CommType, Customer, Direction, Interaction, Outcome, State, Status, Subtype, User
from sessions.stores.sql import SqlStore
from sessions.stores.sql import schema as t
from sessions.stores.sql.columns import interaction_row, tag_rows
from tests.conftest import World

#: The seeded world's clock starts here (tests/conftest.py: ManualClock's default).
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at_minute(w: World, minute: int) -> None:
    w.clock.advance((T0 + timedelta(minutes=minute) - w.clock.now()).total_seconds())


async def finished(
    w: World,
    queue: str,
    agent: User,
    customer: Customer,
    *,
    tags: list[str] | None = None,
    type: CommType = CommType.CALL,
    subtype: Subtype = Subtype.PHONE,
    minute: int,
) -> Interaction:
    """An interaction handled by ``agent`` and completed (resolved) at T0 + ``minute``."""
    at_minute(w, minute)
    ix = (
        await w.sessions.create(
            None, queue_id=queue, direction=Direction.INBOUND, type=type, subtype=subtype, customer=customer, tags=tags
        )
    ).interaction
    await w.sessions.claim(agent, ix.id)
    await w.sessions.end(agent, ix.id, Outcome.RESOLVED)
    return (await w.sessions.complete(agent, ix.id)).interaction


@pytest.fixture
async def hist(world: World) -> dict[str, Interaction]:
    w = world
    made = {
        "s1": await finished(
            w,
            "sales",
            w.alice,
            Customer(name="Dana Scully", phone="+15550001", email="dana@fbi.gov"),
            tags=["vip", "refund"],
            minute=10,
        ),
        "s2": await finished(
            w,
            "sales",
            w.bob,
            Customer(name="Dan Brown", phone="+15550002"),
            tags=["vip"],
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            minute=20,
        ),
        "b1": await finished(
            w,
            "billing",
            w.carol,
            Customer(name="Fox Mulder", email="Fox.Mulder@FBI.gov"),
            type=CommType.MESSAGING,
            subtype=Subtype.TEXT,
            minute=30,
        ),
        "x1": await finished(w, "sales", w.bob, Customer(name="50% off_deal"), minute=35),
    }
    # Ended unresolved, back in the queue, then the customer left: completed, outcome unresolved, by the customer.
    at_minute(w, 40)
    u1 = (
        await w.sessions.create(
            None,
            queue_id="sales",
            direction=Direction.INBOUND,
            type=CommType.CALL,
            subtype=Subtype.PHONE,
            customer=Customer(name="Walter Skinner"),
        )
    ).interaction
    await w.sessions.claim(w.alice, u1.id)
    await w.sessions.end(w.alice, u1.id, Outcome.UNRESOLVED)
    made["u1"] = (await w.sessions.call_ended(u1.id, "completed")).interaction
    # Still active: never part of history.
    await w.sessions.create(
        None,
        queue_id="sales",
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        customer=Customer(name="Dana Active", phone="+15550001"),
        tags=["vip"],
    )
    return made


async def ids(store: SqlStore, queues: set[str] | None = None, **criteria) -> list[str]:
    items, _ = await store.search_history(HistoryFilter(**criteria), queues)
    return [ix.id for ix in items]


async def test_each_filter_finds_exactly_its_completed_interactions_newest_first(store: SqlStore, hist):
    h = {k: v.id for k, v in hist.items()}
    assert await ids(store) == [h["u1"], h["x1"], h["b1"], h["s2"], h["s1"]], (
        "every completed one, newest first; the active one never"
    )
    assert await ids(store, name="DAN") == [h["s2"], h["s1"]], "a name prefix ignores case"
    assert await ids(store, name="dana s") == [h["s1"]]
    assert await ids(store, name="50% off_") == [h["x1"]], "% and _ are the characters typed, not wildcards"
    assert await ids(store, name="5_%") == [] and await ids(store, name="%") == []
    assert await ids(store, phone="+15550001") == [h["s1"]], (
        "exact phone; the active interaction with it is not history"
    )
    assert await ids(store, phone="+1555000") == []
    assert await ids(store, email="fox.mulder@fbi.GOV") == [h["b1"]], "an email matches whatever its case"
    assert await ids(store, completed_from=T0 + timedelta(minutes=20), completed_to=T0 + timedelta(minutes=30)) == [
        h["s2"]
    ], "from is inclusive, to exclusive"
    assert await ids(store, completed_from=datetime(2026, 1, 1, 9, 35)) == [h["u1"], h["x1"]], (
        "a time without a zone is UTC"
    )
    assert await ids(store, queue="billing") == [h["b1"]]
    assert await ids(store, agent="u-alice") == [h["s1"]], "agent is who completed it: the customer abandoned u1"
    assert await ids(store, agent="customer") == [h["u1"]]
    assert await ids(store, outcome="unresolved") == [h["u1"]]
    assert await ids(store, outcome="resolved", queue="sales") == [h["x1"], h["s2"], h["s1"]]
    assert await ids(store, type="messaging") == [h["b1"], h["s2"]]
    assert await ids(store, tags=["vip"]) == [h["s2"], h["s1"]]
    assert await ids(store, tags=["vip", "refund"]) == [h["s1"]], "tags: every one of them"
    assert await ids(store, tags=["vip"], name="dan b", type="messaging", queue="sales", agent="u-bob") == [h["s2"]], (
        "filters combine"
    )


async def test_an_edit_after_completion_is_what_search_finds(world: World, hist):
    s2 = hist["s2"]
    await world.sessions.edit(
        world.bob, s2.id, {"tags": ["complaint"], "customer": {"name": "Daniel Brown", "email": "DB@example.org"}}
    )
    store = world.sessions.store
    assert await ids(store, tags=["complaint"]) == [s2.id] and await ids(store, tags=["vip"]) == [hist["s1"].id]
    assert await ids(store, email="db@example.org") == [s2.id] and await ids(store, name="daniel") == [s2.id]


async def test_pages_by_keyset_without_gaps_or_repeats_even_at_equal_times(world: World, hist):
    store = world.sessions.store
    # Two more completed at the very same instant: the id orders them.
    w = world
    same = [await finished(w, "sales", w.alice, Customer(name=f"Tie {n}"), minute=50) for n in range(2)]
    everything = await ids(store)
    assert everything[:2] == sorted((ix.id for ix in same), reverse=True)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        items, cursor = await store.search_history(HistoryFilter(limit=2, cursor=cursor), None)
        seen += [ix.id for ix in items]
        if cursor is None:
            break
    assert seen == everything and len(seen) == 7
    # A page boundary between the tied pair, and a row completed newer than the first page: page two is unchanged.
    first, cursor = await store.search_history(HistoryFilter(limit=1), None)
    await finished(w, "sales", w.bob, Customer(name="Later"), minute=60)
    second, _ = await store.search_history(HistoryFilter(limit=1, cursor=cursor), None)
    assert [first[0].id, second[0].id] == everything[:2]
    # The last page says so.
    last, nxt = await store.search_history(HistoryFilter(limit=500), None)
    assert nxt is None and len(last) == 8


async def test_a_cursor_that_is_not_ours_is_refused(store: SqlStore, hist):
    for bad in [
        "!!!",
        "bm90IGpzb24",
        base64.urlsafe_b64encode(b'{"t":1}').decode(),
        base64.urlsafe_b64encode(b'[true,"x"]').decode(),
        base64.urlsafe_b64encode(b'[1e999,"x"]').decode(),
        base64.urlsafe_b64encode(b'[1,""]').decode(),
    ]:
        with pytest.raises(InvalidCursor):
            await store.search_history(HistoryFilter(cursor=bad), None)
    # A well-formed position past every row is simply an empty page.
    assert await store.search_history(HistoryFilter(cursor=encode_cursor(0.0, "a")), None) == ([], None)


async def test_agents_and_supervisors_search_their_queues_admins_all(world: World, hist):
    store = world.sessions.store
    with pytest.raises(PermissionDenied, match="billing"):
        searchable_queues(world.alice, "billing")
    assert searchable_queues(world.alice, None) == {"sales"} and searchable_queues(world.supervisor, "billing") == {
        "sales",
        "billing",
    }
    assert searchable_queues(world.admin, "anything") is None
    assert await ids(store, searchable_queues(world.carol, None)) == [hist["b1"].id], "carol belongs to billing only"
    assert await ids(store, set(), name="d") == [], "a user of no queue sees nothing"
    assert await ids(store, {"sales"}, queue="billing") == [], "the store holds the line too"
    may_export(world.supervisor)
    may_export(world.admin)
    with pytest.raises(PermissionDenied):
        may_export(world.alice)


async def test_the_export_walks_every_match_in_batches_in_search_order(world: World, hist):
    store = world.sessions.store
    exported = [ix.id async for ix in store.export_history(HistoryFilter(queue="sales"), {"sales", "billing"}, batch=2)]
    assert exported == await ids(store, queue="sales") and len(exported) == 4, (
        "batches of 2 across 4 rows, none lost at the edges"
    )
    assert [ix async for ix in store.export_history(HistoryFilter(), set())] == []


def test_bad_criteria_are_refused_by_the_model():
    for bad in (
        {"limit": 0},
        {"limit": 501},
        {"outcome": "maybe"},
        {"type": "fax"},
        {"name": "   "},
        {"completed_from": T0, "completed_to": T0 - timedelta(seconds=1)},
        {"tags": ["x"] * 21},
    ):
        with pytest.raises(ValidationError):
            HistoryFilter(**bad)


# -- the searches read indexes ---------------------------------------------------------------------------

#: Search -> the index that must serve it on SQLite (no statistics, as a gateway runs it).
SQLITE_INDEX = {
    "everything": ({}, "ix_interactions_completed"),
    "queue": ({"queue": "q1"}, "ix_interactions_queue_completed"),
    "agent": ({"agent": "u3"}, "ix_interactions_agent_completed"),
    "name": ({"name": "cust 123"}, "ix_interactions_customer_name"),
    "phone": ({"phone": "+15550000123"}, "ix_interactions_customer_phone"),
    "email": ({"email": "c123@example.org"}, "ix_interactions_customer_email"),
    "outcome": ({"outcome": "unresolved"}, "ix_interactions_outcome_completed"),
    "type": ({"type": "voicemail"}, "ix_interactions_type_completed"),
    "dates": ({"completed_from": T0, "completed_to": T0 + timedelta(hours=1)}, "ix_interactions_completed"),
    "queue and name": ({"queue": "q1", "name": "cust 12"}, "ix_interactions_customer_name"),
}
#: On PostgreSQL (with statistics) the selective searches must pick their own index.
PG_INDEX = {"phone", "email", "name", "agent", "outcome", "type"}


async def _seed_rows(store: SqlStore, n: int) -> None:
    """``n`` completed interactions straight into SQL (their documents are not read by a plan)."""
    rows, tags = [], []
    for i in range(n):
        kind = (CommType.VOICEMAIL, Subtype.VOICEMAIL) if i % 100 == 0 else (CommType.MESSAGING, Subtype.CHAT)
        ix = Interaction(
            id=f"i{i:06d}",
            queue_id=f"q{i % 5}",
            direction=Direction.INBOUND,
            type=kind[0],
            subtype=kind[1],
            state=State.COMPLETED,
            status=Status.COMPLETED,
            outcome=Outcome.UNRESOLVED if i % 100 == 1 else Outcome.RESOLVED,
            customer=Customer(name=f"Cust {i}", phone=f"+1555{i:07d}", email=f"c{i}@example.org"),
            tags=[f"t{i % 7}"],
            created_at=T0 + timedelta(minutes=i),
            completed_at=T0 + timedelta(minutes=i, seconds=30),
            completed_by=f"u{i % 100}",
        )
        rows.append({**interaction_row(ix), "doc": "{}"})
        tags += tag_rows(ix)
    async with store.db.write() as conn:
        await conn.execute(insert(t.interactions), rows)
        await conn.execute(insert(t.interaction_tags), tags)


async def _plan(store: SqlStore, criteria: dict, cursor: tuple[float, str] | None = None) -> str:
    stmt = store.history_query(HistoryFilter(**criteria), None, cursor).limit(50)
    sql = str(stmt.compile(dialect=store.db.writer.dialect, compile_kwargs={"literal_binds": True}))
    async with store.db.read() as conn:
        rows = (await conn.execute(text(("EXPLAIN QUERY PLAN " if store.db.is_sqlite else "EXPLAIN ") + sql))).all()
    return "\n".join(str(r[-1]) for r in rows)


async def test_every_search_reads_an_index_not_the_table(store: SqlStore):
    await _seed_rows(store, 3000)
    if not store.db.is_sqlite:
        async with store.db.write() as conn:
            await conn.execute(text("ANALYZE interactions"))
            await conn.execute(text("ANALYZE interaction_tags"))
    for label, (criteria, index) in SQLITE_INDEX.items():
        plan = await _plan(store, criteria)
        if store.db.is_sqlite:
            assert f"SEARCH interactions USING INDEX {index} (" in plan, f"{label}:\n{plan}"
            assert "SCAN interactions" not in plan, f"{label}:\n{plan}"
        else:
            assert "Seq Scan on interactions" not in plan, f"{label}:\n{plan}"
            if label in PG_INDEX:
                assert re.search(rf"(using|on) {index}\b", plan), f"{label}:\n{plan}"
    # The next page starts in the index, at the cursor, rather than skipping rows it reads.
    plan = await _plan(store, {}, (T0.timestamp() + 600, "i000010"))
    if store.db.is_sqlite:
        assert "SEARCH interactions USING INDEX ix_interactions_completed (state=? AND " in plan, plan
    else:
        assert re.search(r"Index Cond: .*ROW\(completed_at, \(?id\)?(::text)?\) < ROW\(", plan), plan
    tagged = await _plan(store, {"tags": ["t3"]})
    assert "SCAN interactions" not in tagged and "Seq Scan on interactions" not in tagged, tagged
