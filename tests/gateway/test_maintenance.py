"""Maintenance prunes the event log by the clock that stamps the events (the sessions'), not by the machine's: with a
clock of the app's own (tests' ManualClock, months behind the machine), events were pruned while the hub was still
reading them, and its reader died of CursorExpired."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

from gateway.app import maintain, startup_warnings
from gateway.settings import Settings
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


def test_maintenance_forgets_the_call_homes_and_registrations_of_processes_long_gone():
    for gw in make_gateway():
        store, settings = gw.app.state.sessions.store, gw.app.state.settings
        then = Sessions(store, ManualClock())
        gw.call(then.register_node, "node-killed", "http://127.0.0.1:9001", 3)
        gw.call(then.claim_call_home, "ix-1", "node-killed", "MZ1", 3)
        later = Sessions(store, ManualClock(then.clock.now() + timedelta(hours=2)))
        deadline = time.monotonic() + 10
        while not gw.call(store.lease, "maintenance", "test", 600):  # the app's own round, at its start, ends first
            assert time.monotonic() < deadline, "the maintenance lease was never free"
        gw.call(maintain, later, "test", settings)
        assert "node-killed" not in gw.call(store.map_all, "nodes")
        assert gw.call(store.map_all, "call_homes") == {}
        assert gw.call(store.map_all, "nodes"), "the gateway's own registration, renewed, stays"


def test_start_up_warns_when_sibling_processes_are_pointed_at_loopback():
    several = Settings(redis_url="redis://127.0.0.1:6379", internal_secret="s", host="0.0.0.0", port=8000)
    assert several.internal_url.startswith("http://127.0.0.1")
    [warning] = startup_warnings(several)
    assert "GATEWAY_INTERNAL_URL" in warning
    assert startup_warnings(replace(several, internal_url="http://10.0.0.5:8000")) == []
    assert startup_warnings(replace(several, host="127.0.0.1")) == [], "all on one machine by construction"
    assert startup_warnings(replace(several, redis_url=None)) == [], "one process: nobody to reach it"
    assert any("GATEWAY_INTERNAL_SECRET" in w for w in startup_warnings(replace(several, internal_secret=None)))
