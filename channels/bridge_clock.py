"""The pace of a bridge's 20 ms clock, and the count of its ticks that came late: pure, no I/O.

Every live call mixes one tick per period (`mixer.TICK` samples, 20 ms) on a clock of its own
(channels/voice_bridge.py).  The clock keeps a *due* time that advances by exactly one period per
tick, and sleeps until it: a tick that starts a little late does not shift the ones after it, and a
clock that fell behind runs its ticks back to back until it has caught up.  After a stall of more
than `STALL_TICKS` periods (the process was busy, or stopped) it does not burst to catch up: the
ticks it missed are skipped and it starts afresh from the present.

What a capacity measurement needs from this is whether the process keeps time, so every process
counts, over all its bridges (`ClockCounts`, read through ``GET /api/voice/stats``):

* ``ticks``: ticks run;
* ``late``: ticks run that started more than one period (20 ms) after they were due, i.e. later than
  the next tick's due time: the mix of that tick reaches its listeners after the audio that should
  follow it had already been due.  Catch-up ticks count when they too start more than a period late;
* ``skipped``: ticks never run, dropped by a stall's fresh start (each is 20 ms nobody heard on time).

The share of ticks that missed their time is ``(late + skipped) / (ticks + skipped)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mixer import RATE, TICK

TICK_SECONDS = TICK / RATE
#: Behind by more than this many periods, the clock skips the missed ticks instead of bursting through them.
STALL_TICKS = 10


@dataclass
class ClockCounts:
    """Totals of the ticks of every bridge of one process (see the module's docstring for what each counts)."""

    ticks: int = 0
    late: int = 0
    skipped: int = 0


class Pacer:
    """When a bridge's next tick is due, and the count of how each tick kept to it.

    The bridge asks `wait` how long to sleep (``now`` is its event loop's time), sleeps, then calls `started`
    with the time its tick starts.  Times are passed in, so the arithmetic is testable without a clock.
    """

    def __init__(self, start: float, counts: ClockCounts) -> None:
        self.due = start
        self.counts = counts

    def wait(self, now: float) -> float:
        """Seconds until the next tick is due (0: it already is)."""
        self.due += TICK_SECONDS
        return max(0.0, self.due - now)

    def started(self, now: float) -> None:
        """The tick due at ``self.due`` starts at ``now``: counts it, and starts afresh after a stall."""
        behind = now - self.due
        self.counts.ticks += 1
        if behind > TICK_SECONDS:
            self.counts.late += 1
        if behind > STALL_TICKS * TICK_SECONDS:
            # The ticks due after this one, up to now, will never run: the clock restarts from the present.
            self.counts.skipped += int(behind / TICK_SECONDS)
            self.due = now
