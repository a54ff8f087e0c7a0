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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from .model import Interaction, Queue, QueueSettings, Status


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


def service_level(interactions: list[Interaction], settings: QueueSettings, start: datetime, now: datetime) -> ServiceLevel:
    threshold, short = settings.sla_threshold, settings.sla_short_abandon
    offered = met = answered = abandoned = short_abandoned = 0
    answer_waits: list[float] = []
    for ix in interactions:
        if not (start <= ix.created_at <= now):
            continue
        if ix.answered_at is not None:
            wait = (ix.answered_at - ix.created_at).total_seconds()
            answered += 1
            offered += 1
            met += wait <= threshold
            answer_waits.append(wait)
        elif ix.abandoned_at is not None:
            wait = (ix.abandoned_at - ix.created_at).total_seconds()
            if short and wait < short:
                short_abandoned += 1
                continue
            abandoned += 1
            offered += 1
            met += settings.sla_abandons_within_threshold_met and wait <= threshold
        elif (now - ix.created_at).total_seconds() > threshold:
            offered += 1
    return ServiceLevel(
        offered=offered,
        met=met,
        answered=answered,
        abandoned=abandoned,
        short_abandoned=short_abandoned,
        service_level=met / offered if offered else None,
        average_speed_of_answer=sum(answer_waits) / len(answer_waits) if answer_waits else None,
    )


def start_of_day(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)


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


def queue_figures(queue: Queue, interactions: list[Interaction], now: datetime, available_agents: int = 0) -> QueueFigures:
    """Figures over ``interactions``: the queue's active ones plus those completed today."""
    mine = [i for i in interactions if i.queue_id == queue.id]
    active = [i for i in mine if i.is_active]
    waiting = [i for i in active if i.status in (Status.OPEN, Status.PENDING)]
    return QueueFigures(
        queue_id=queue.id,
        active=len(active),
        waiting=len(waiting),
        claimed=sum(i.status is Status.CLAIMED for i in active),
        wrap_up=sum(i.status is Status.WRAP_UP for i in active),
        oldest_waiting_since=min((i.created_at for i in waiting), default=None),
        mean_waiting_since=datetime.fromtimestamp(sum(i.created_at.timestamp() for i in waiting) / len(waiting), UTC) if waiting else None,
        available_agents=available_agents,
        last_15_minutes=service_level(mine, queue.settings, now - timedelta(minutes=15), now),
        today=service_level(mine, queue.settings, start_of_day(now), now),
    )
