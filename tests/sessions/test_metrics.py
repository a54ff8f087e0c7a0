"""Service level against a hand-computed scenario, under each convention; the store's aggregates against the
definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessions.events import Change
from sessions.metrics import backlog, level, queue_figures, service_level, start_of_day, tally
from sessions.model import CommType, Direction, Interaction, State, Status, Subtype
from sessions.queues import Queue, QueueSettings
from sessions.stores import Store
from tests.conftest import World
from tests.seen import events_seen_by

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)


def contact(i: int, *, arrived: float, answered: float | None = None, abandoned: float | None = None) -> Interaction:
    """A contact arriving ``arrived`` seconds after T0, answered or abandoned that many seconds after arriving."""
    created = T0 + timedelta(seconds=arrived)
    ix = Interaction(
        id=f"c{i}",
        queue_id="q",
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        created_at=created,
    )
    if answered is not None:
        ix.answered_at = created + timedelta(seconds=answered)
        ix.status = Status.CLAIMED
    if abandoned is not None:
        ix.abandoned_at = created + timedelta(seconds=abandoned)
        ix.state, ix.status = State.COMPLETED, Status.COMPLETED
    return ix


# Threshold 20 s.  By hand:
#   c1 answered after 10 s  -> offered, met
#   c2 answered after 30 s  -> offered, not met
#   c3 answered after 20 s  -> offered, met (<= threshold)
#   c4 abandoned after 3 s  -> a short abandon when short-abandon is 5 s
#   c5 abandoned after 15 s -> abandoned within the threshold
#   c6 abandoned after 40 s -> abandoned past the threshold
#   c7 waiting, arrived 590 s in (10 s ago)  -> undecided: in neither term
#   c8 waiting, arrived 500 s in (100 s ago) -> offered, not met
SCENARIO = [
    contact(1, arrived=0, answered=10),
    contact(2, arrived=10, answered=30),
    contact(3, arrived=20, answered=20),
    contact(4, arrived=30, abandoned=3),
    contact(5, arrived=40, abandoned=15),
    contact(6, arrived=50, abandoned=40),
    contact(7, arrived=590),
    contact(8, arrived=500),
]


@pytest.mark.parametrize(
    ("short", "abandons_met", "offered", "met"),
    [
        (0, False, 7, 2),  # plain: 3 answered + 3 abandoned + 1 waiting past threshold; met c1, c3
        (5, False, 6, 2),  # Twilio Flex: c4 (3 s < 5 s) leaves the denominator
        (0, True, 7, 4),  # Amazon Connect: c4 and c5 abandoned within 20 s count as met
        (5, True, 6, 3),  # both: c4 gone, c5 met
    ],
)
def test_service_level_by_hand(short: int, abandons_met: bool, offered: int, met: int):
    settings = QueueSettings(sla_threshold=20, sla_short_abandon=short, sla_abandons_within_threshold_met=abandons_met)
    sl = service_level(SCENARIO, settings, T0, NOW)
    assert (sl.offered, sl.met) == (offered, met)
    assert sl.service_level == pytest.approx(met / offered)
    assert sl.answered == 3 and sl.average_speed_of_answer == pytest.approx((10 + 30 + 20) / 3)
    assert sl.short_abandoned == (1 if short else 0)


def test_window_counts_only_contacts_created_in_it():
    sl = service_level(SCENARIO, QueueSettings(sla_threshold=20), T0 + timedelta(seconds=45), NOW)
    assert (sl.offered, sl.met, sl.answered, sl.abandoned) == (2, 0, 0, 1)  # c6 and c8


def test_nothing_offered_is_none_not_zero():
    assert service_level([contact(1, arrived=595)], QueueSettings(sla_threshold=20), T0, NOW).service_level is None


def test_live_figures():
    queue = Queue(id="q", name="Q", settings=QueueSettings(sla_threshold=20))
    figures = queue_figures(queue, SCENARIO, NOW, available_agents=2)
    assert (figures.active, figures.waiting, figures.claimed) == (5, 2, 3)
    assert figures.oldest_waiting_since == T0 + timedelta(seconds=500) and figures.longest_wait(NOW) == 100
    assert figures.average_wait(NOW) == pytest.approx((100 + 10) / 2)
    assert figures.last_15_minutes.offered == 7 and figures.available_agents == 2


async def test_queue_metrics_events_publish_on_change_only_and_reach_supervisors(world: World):
    s = world.sessions
    previous: dict = {}
    first = await s.publish_metrics("node", previous)
    assert {e.queues[0] for e in first} == {"sales", "billing"}
    assert await s.publish_metrics("node", previous) == [], "nothing changed, nothing published"
    world.clock.advance(5)
    assert await s.publish_metrics("node", previous) == [], "only ticking figures changed"
    ev = await s.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
    [update] = await s.publish_metrics("node", previous)
    assert update.type == "queue.metrics" and update.data["waiting"] == 1 and update.interaction is None
    cursor = ev.id
    agent_view = await events_seen_by(s, world.alice, cursor)
    supervisor_view = await events_seen_by(s, world.supervisor, cursor)
    assert [e.type for e in agent_view.events] == []
    assert [e.type for e in supervisor_view.events] == ["queue.metrics"]


# -- the store's aggregates meet the definition ----------------------------------------------

SETTINGS = [
    QueueSettings(sla_threshold=20, sla_short_abandon=short, sla_abandons_within_threshold_met=met)
    for short in (0, 5)
    for met in (False, True)
]


async def stored(store: Store, contacts: list[Interaction]) -> None:
    for ix in contacts:
        await store.insert(Change(ix, "interaction.created"), ix.created_at)


def at_now(world: World, now: datetime) -> None:
    world.clock.advance((now - world.clock.now()).total_seconds())


@pytest.mark.parametrize(
    "settings", SETTINGS, ids=lambda s: f"short{s.sla_short_abandon}-met{int(s.sla_abandons_within_threshold_met)}"
)
async def test_store_tallies_equal_the_definition(store: Store, settings: QueueSettings):
    await stored(store, SCENARIO)
    starts = [T0, T0 + timedelta(seconds=45), NOW - timedelta(minutes=15), start_of_day(NOW)]
    got = await store.service_tallies("q", settings, starts, NOW)
    assert got == [tally(SCENARIO, settings, start, NOW) for start in starts]
    assert [level(t, settings) for t in got[:1]] == [service_level(SCENARIO, settings, T0, NOW)]
    assert await store.backlog("q", start_of_day(NOW)) == backlog(SCENARIO, start_of_day(NOW))


async def test_boundaries_to_the_microsecond_decide_as_datetimes_do(store: Store):
    """Waits of exactly the threshold (met) and a microsecond more (not), at times a float epoch holds only
    approximately."""
    base = T0 + timedelta(microseconds=123_457)
    thr, short = timedelta(seconds=20), timedelta(seconds=5)
    us = timedelta(microseconds=1)

    def answered(i: int, wait: timedelta) -> Interaction:
        ix = contact(100 + i, arrived=i * 7.000_001)
        ix.created_at = base + timedelta(seconds=i * 7, microseconds=i)
        ix.answered_at, ix.status = ix.created_at + wait, Status.CLAIMED
        return ix

    def abandoned(i: int, wait: timedelta) -> Interaction:
        ix = answered(i, wait)
        ix.answered_at, ix.abandoned_at, ix.state, ix.status = (
            None,
            ix.created_at + wait,
            State.COMPLETED,
            Status.COMPLETED,
        )
        return ix

    def waiting(i: int, waited: timedelta) -> Interaction:
        ix = contact(100 + i, arrived=0)
        ix.created_at = NOW - waited
        return ix

    contacts = [
        answered(0, thr),
        answered(1, thr + us),
        abandoned(2, short - us),
        abandoned(3, short),
        abandoned(4, thr),
        abandoned(5, thr + us),
        waiting(6, thr),
        waiting(7, thr + us),
    ]
    settings = QueueSettings(sla_threshold=20, sla_short_abandon=5, sla_abandons_within_threshold_met=True)
    await stored(store, contacts)
    [got] = await store.service_tallies("q", settings, [T0], NOW)
    assert got == tally(contacts, settings, T0, NOW)
    assert (got.answered_met, got.short_abandoned, got.abandoned, got.abandoned_within, got.waiting_past) == (
        1,
        1,
        3,
        2,
        1,
    )
    assert got.answer_wait_us == 40_000_001


async def test_figures_from_the_store_equal_queue_figures(world: World):
    queue = Queue(id="q", name="Q", settings=QueueSettings(sla_threshold=20, sla_short_abandon=5))
    await world.sessions.create_queue(world.admin, queue)
    await stored(world.sessions.store, SCENARIO)
    at_now(world, NOW)
    assert await world.sessions.figures(queue) == queue_figures(queue, SCENARIO, NOW)


async def test_metrics_follow_the_clock_alone_past_the_threshold_and_out_of_the_window(world: World):
    """No event: a waiting contact passing the threshold, then leaving the 15 minutes, still changes what is
    published."""
    s, previous = world.sessions, {}
    await s.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
    await s.publish_metrics("node", previous)
    assert previous["sales"]["last_15_minutes"]["offered"] == 0
    world.clock.advance(world.sales.settings.sla_threshold)
    assert await s.publish_metrics("node", previous) == [], "at the threshold it is still undecided"
    world.clock.advance(0.000_001)
    [passed] = await s.publish_metrics("node", previous)
    assert passed.data["last_15_minutes"]["offered"] == 1 and passed.data["today"]["offered"] == 1
    world.clock.advance(15 * 60)
    [left] = await s.publish_metrics("node", previous)
    assert left.data["last_15_minutes"]["offered"] == 0 and left.data["today"]["offered"] == 1


async def test_under_steady_traffic_the_clock_alone_refreshes_a_queue_at_most_every_clock_refresh(world: World):
    """Arrivals a second apart keep moving the 15-minute window; without events the figures are recomputed
    twice running, then no more often than CLOCK_REFRESH (an event on the queue still refreshes it at once)."""
    from sessions.floor import CLOCK_REFRESH

    s, previous = world.sessions, {}
    for _ in range(120):
        await s.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
        world.clock.advance(1)
    await s.publish_metrics("node", previous)
    store, aggregates = s.store, []
    counted = store.service_tallies

    async def counting(queue_id, *args):
        aggregates.append(queue_id)
        return await counted(queue_id, *args)

    store.service_tallies = counting
    world.clock.advance(15 * 60 - 120)  # the first arrivals start leaving the 15 minutes, one a second
    for _ in range(90):
        world.clock.advance(1)
        await s.publish_metrics("node", previous)
    refresh = CLOCK_REFRESH.total_seconds()
    assert 2 <= aggregates.count("sales") <= 2 + 90 / refresh, aggregates
    before = len(aggregates)
    await s.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
    [event] = [e for e in await s.publish_metrics("node", previous) if e.queues == ["sales"]]
    assert aggregates[before:].count("sales") == 1 and event.data["waiting"] == 121
