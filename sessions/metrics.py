"""Queue figures and the service level, computed from interactions (no I/O here).

One definition of the service level serves live figures and history alike
(`service_level`); only the window differs.  For the contacts *created* in
the window, in the queue they are in now:

    service level = met / offered

    answered   answered_at set;   wait = answered_at - created_at
    abandoned  abandoned_at set;  wait = abandoned_at - created_at
    waiting    neither;           wait so far = now - created_at

    offered = answered + abandoned + waiting past the threshold
              - short abandons, when the queue sets sla_short_abandon > 0
                (abandons with wait < sla_short_abandon leave both terms:
                Twilio Flex's convention)
    met     = answered with wait <= threshold
              + abandoned with wait <= threshold, when the queue sets
                sla_abandons_within_threshold_met (Amazon Connect's option)

Contacts still waiting within the threshold are undecided and count in
neither term, so the figure does not dip each time a contact arrives.
Average speed of answer is the mean wait of the answered ones.

The figures are built from two tallies, sums that SQL computes over an index
as well as Python computes over documents: a ``Tally`` of a window's
arrivals and the ``Backlog`` of the queue's active ones.  The functions here
define them over interactions; ``stores/sql/queries.py`` computes the same
sums with aggregates, and the tests hold the two to the same answers.
Waits are summed in whole microseconds (the resolution of the stored times)
so both paths give the same figure to the last digit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from .model import Interaction, Status
from .queues import Queue, QueueSettings

MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ServiceLevel:
    offered: int
    met: int
    answered: int
    abandoned: int
    short_abandoned: int
    #: None while nothing is offered.
    service_level: float | None
    average_speed_of_answer: float | None


@dataclass(frozen=True)
class Tally:
    """A window's arrivals, counted by what became of them (the settings' thresholds already applied)."""

    answered: int = 0
    #: Answered with wait <= threshold.
    answered_met: int = 0
    #: Sum of the answered ones' waits, in microseconds.
    answer_wait_us: int = 0
    #: Abandoned, short abandons left out.
    abandoned: int = 0
    #: Abandoned (not short) with wait <= threshold: met only under sla_abandons_within_threshold_met.
    abandoned_within: int = 0
    short_abandoned: int = 0
    #: Neither answered nor abandoned, waiting longer than the threshold.
    waiting_past: int = 0


def tally(interactions: list[Interaction], settings: QueueSettings, start: datetime, now: datetime) -> Tally:
    threshold, short = timedelta(seconds=settings.sla_threshold), timedelta(seconds=settings.sla_short_abandon)
    answered = answered_met = answer_wait_us = abandoned = abandoned_within = short_abandoned = waiting_past = 0
    for ix in interactions:
        if not (start <= ix.created_at <= now):
            continue
        if ix.answered_at is not None:
            wait = ix.answered_at - ix.created_at
            answered += 1
            answered_met += wait <= threshold
            answer_wait_us += wait // MICROSECOND
        elif ix.abandoned_at is not None:
            wait = ix.abandoned_at - ix.created_at
            if short and wait < short:
                short_abandoned += 1
                continue
            abandoned += 1
            abandoned_within += wait <= threshold
        elif now - ix.created_at > threshold:
            waiting_past += 1
    return Tally(answered, answered_met, answer_wait_us, abandoned, abandoned_within, short_abandoned, waiting_past)


def level(t: Tally, settings: QueueSettings) -> ServiceLevel:
    offered = t.answered + t.abandoned + t.waiting_past
    met = t.answered_met + (t.abandoned_within if settings.sla_abandons_within_threshold_met else 0)
    return ServiceLevel(
        offered=offered,
        met=met,
        answered=t.answered,
        abandoned=t.abandoned,
        short_abandoned=t.short_abandoned,
        service_level=met / offered if offered else None,
        average_speed_of_answer=t.answer_wait_us / 1_000_000 / t.answered if t.answered else None,
    )


def service_level(
    interactions: list[Interaction], settings: QueueSettings, start: datetime, now: datetime
) -> ServiceLevel:
    return level(tally(interactions, settings, start, now), settings)


def start_of_day(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)


@dataclass(frozen=True)
class Backlog:
    """A queue's active interactions by status, and how long the waiting ones have waited."""

    active: int = 0
    waiting: int = 0
    claimed: int = 0
    wrap_up: int = 0
    oldest_waiting_since: datetime | None = None
    #: Sum of the waiting ones' creation times, in microseconds after ``ref``.
    waiting_since_us: int = 0

    def mean_waiting_since(self, ref: datetime) -> datetime | None:
        return ref + timedelta(microseconds=self.waiting_since_us / self.waiting) if self.waiting else None


def backlog(interactions: list[Interaction], ref: datetime) -> Backlog:
    active = [i for i in interactions if i.is_active]
    waiting = [i for i in active if i.status in (Status.OPEN, Status.PENDING)]
    return Backlog(
        active=len(active),
        waiting=len(waiting),
        claimed=sum(i.status is Status.CLAIMED for i in active),
        wrap_up=sum(i.status is Status.WRAP_UP for i in active),
        oldest_waiting_since=min((i.created_at for i in waiting), default=None),
        waiting_since_us=sum((i.created_at - ref) // MICROSECOND for i in waiting),
    )


def windows(now: datetime) -> tuple[datetime, datetime]:
    """The starts of the two service-level windows: the last 15 minutes, and today (UTC)."""
    return now - timedelta(minutes=15), start_of_day(now)


@dataclass(frozen=True)
class QueueFigures:
    queue_id: str
    active: int
    waiting: int
    claimed: int
    wrap_up: int
    #: Creation time of the longest-waiting contact: clients tick the wait themselves.
    oldest_waiting_since: datetime | None
    #: Mean creation time of the waiting contacts (stable while nothing changes): average wait = now - this.
    mean_waiting_since: datetime | None
    available_agents: int
    last_15_minutes: ServiceLevel
    today: ServiceLevel

    def longest_wait(self, now: datetime) -> float:
        return (now - self.oldest_waiting_since).total_seconds() if self.oldest_waiting_since else 0.0

    def average_wait(self, now: datetime) -> float:
        return (now - self.mean_waiting_since).total_seconds() if self.mean_waiting_since else 0.0

    #: Figures that tick with the clock; left out when deciding whether anything changed.
    TICKING = ("longest_wait_seconds", "average_wait_seconds")

    def as_dict(self, now: datetime) -> dict[str, Any]:
        out = asdict(self)
        for name in ("oldest_waiting_since", "mean_waiting_since"):
            out[name] = out[name].isoformat() if out[name] else None
        out["longest_wait_seconds"] = self.longest_wait(now)
        out["average_wait_seconds"] = self.average_wait(now)
        return out


def assemble(
    queue: Queue, live: Backlog, last_15: Tally, today: Tally, now: datetime, available_agents: int
) -> QueueFigures:
    """The figures from the two tallies, whichever path computed them."""
    return QueueFigures(
        queue_id=queue.id,
        active=live.active,
        waiting=live.waiting,
        claimed=live.claimed,
        wrap_up=live.wrap_up,
        oldest_waiting_since=live.oldest_waiting_since,
        mean_waiting_since=live.mean_waiting_since(start_of_day(now)),
        available_agents=available_agents,
        last_15_minutes=level(last_15, queue.settings),
        today=level(today, queue.settings),
    )


def queue_figures(
    queue: Queue, interactions: list[Interaction], now: datetime, available_agents: int = 0
) -> QueueFigures:
    """Figures over ``interactions``: the queue's active ones plus those completed today
    (the definition the store's aggregates meet)."""
    mine = [i for i in interactions if i.queue_id == queue.id]
    last_15, today = windows(now)
    return assemble(
        queue,
        backlog(mine, start_of_day(now)),
        tally(mine, queue.settings, last_15, now),
        tally(mine, queue.settings, today, now),
        now,
        available_agents,
    )
