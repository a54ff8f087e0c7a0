"""Maintenance prunes the event log by the clock that stamps the events (the sessions'), not by the machine's: with a
clock of the app's own (tests' ManualClock, months behind the machine), events were pruned while the hub was still
reading them, and its reader died of CursorExpired."""

from __future__ import annotations

from datetime import timedelta

from gateway.app import maintain
from sessions import Sessions
from sessions.clock import ManualClock
from tests.gateway.conftest import make_gateway


def test_the_retention_counts_on_the_clock_given_not_the_machines():
    for gw in make_gateway():
        gw.queue("sales")
        gw.inbound("sales")
        store, settings = gw.app.state.sessions.store, gw.app.state.settings
        retention = timedelta(days=settings.event_retention_days)
        kept = gw.call(store.events_since, "0")
        assert kept.events, "an event to keep or prune"
        stamped = kept.events[-1].at

        gw.call(maintain, Sessions(store, ManualClock(stamped + retention - timedelta(minutes=1))), "test", settings)
        assert gw.call(store.events_since, "0").events == kept.events, "inside the retention by that clock: kept"

        gw.call(maintain, Sessions(store, ManualClock(stamped + retention + timedelta(minutes=1))), "test", settings)
        assert gw.call(store.last_cursor) == kept.events[-1].id
        assert gw.call(store.events_since, kept.events[-1].id).events == [], "past it by that clock: pruned"
        assert gw.call(store.prune_events, 0) == 0, "nothing was left to prune"
