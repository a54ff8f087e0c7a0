"""A bridge's 20 ms clock counts its ticks, the late ones and the skipped ones, as channels/bridge_clock.py defines.

The pacing arithmetic is driven with given times; the bridge itself is driven by its event loop's clock, made to
jump forward (as a stalled process sees time) rather than by waiting for real time to pass.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from channels.bridge_clock import STALL_TICKS, TICK_SECONDS, ClockCounts, Pacer
from channels.voice_bridge import Bridge, Bridges

T = TICK_SECONDS


def run(pacer: Pacer, now: float, hold_up: float = 0.0) -> float:
    """One turn of the bridge's loop at ``now``: sleeps as told, and the tick starts ``hold_up`` after waking;
    returns the time the tick started."""
    start = now + pacer.wait(now) + hold_up
    pacer.started(start)
    return start


def test_ticks_on_time_are_counted_and_none_is_late():
    counts = ClockCounts()
    pacer, now = Pacer(0.0, counts), 0.0
    for _ in range(50):
        now = run(pacer, now, hold_up=0.004)  # a few ms of scheduling delay each time: never late
    assert counts == ClockCounts(ticks=50, late=0, skipped=0)
    assert pacer.due == pytest.approx(50 * T), "small delays do not shift the schedule"


def test_a_tick_more_than_one_period_late_counts_and_the_clock_catches_up_without_skipping():
    counts = ClockCounts()
    pacer = Pacer(0.0, counts)
    now = run(pacer, 0.0)
    now = run(pacer, now, hold_up=T * 0.9)  # 18 ms late: not late
    assert counts.late == 0
    now = run(pacer, now, hold_up=3.5 * T)  # held up 70 ms: this tick, and the catch-up ticks still > 20 ms behind
    assert counts.late == 1
    waits = []
    for _ in range(4):
        waits.append(pacer.wait(now))
        pacer.started(now)
    assert waits[:3] == [0.0, 0.0, 0.0], "behind: the next ticks run back to back"
    assert counts.late == 3, "catch-up ticks count while they start more than a period after they were due"
    assert counts.skipped == 0 and counts.ticks == 7


def test_a_stall_skips_the_missed_ticks_and_starts_afresh():
    counts = ClockCounts()
    pacer = Pacer(0.0, counts)
    now = run(pacer, 0.0)
    stall = (STALL_TICKS + 5.5) * T
    now = run(pacer, now, hold_up=stall)
    assert counts.ticks == 2 and counts.late == 1
    assert counts.skipped == STALL_TICKS + 5, "every tick due between the late one and now"
    assert pacer.wait(now) == pytest.approx(T), "afresh: the next tick is one period away"


async def test_a_bridge_counts_its_ticks_into_the_process_totals_and_a_jump_of_its_loop_clock_as_a_stall(
    monkeypatch: pytest.MonkeyPatch,
):
    bridges = Bridges()
    bridge = Bridge("ix-clock", clock_counts=bridges.counts)
    ticked = asyncio.Event()
    mix = bridge.tick

    def tick() -> None:
        mix()
        ticked.set()

    monkeypatch.setattr(bridge, "tick", tick)
    bridge.start()
    for _ in range(3):
        await asyncio.wait_for(ticked.wait(), 5)
        ticked.clear()
    assert bridges.counts.ticks >= 3
    before = dataclasses.replace(bridges.counts)

    loop = asyncio.get_running_loop()
    real = loop.time
    monkeypatch.setattr(loop, "time", lambda: real() + 0.5)  # the loop's clock jumps 500 ms: a stalled process
    await asyncio.wait_for(ticked.wait(), 5)
    await bridge.close()
    after = bridges.counts
    assert after.ticks == before.ticks + 1
    assert after.late == before.late + 1, "the tick after the jump started 25 periods late"
    assert 20 <= after.skipped - before.skipped <= 25, after
