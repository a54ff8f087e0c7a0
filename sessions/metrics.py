"""Live queue figures, computed from interactions (no I/O here).

Service level, the one definition used for live figures and history:

    service level = answered within the threshold / offered

where *offered* counts every contact whose wait is decided: answered (at any
time) or still unanswered past the threshold.  Contacts still waiting within
the threshold are undecided and count in neither term, so the figure does
not jump as new contacts arrive.  Waiting is measured from creation until
first answer (claim), as DESIGN.md says: only active waiting counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .model import Interaction, Queue, Status


@dataclass(frozen=True)
class QueueFigures:
    queue_id: str
    active: int
    waiting: int
    claimed: int
    wrap_up: int
    longest_wait_seconds: float
    offered: int
    answered_within_threshold: int
    #: None when nothing has been offered yet (no contacts, or all still within the threshold).
    service_level: float | None
    average_speed_of_answer_seconds: float | None


def queue_figures(queue: Queue, interactions: list[Interaction], now: datetime) -> QueueFigures:
    """Figures over ``interactions`` (the queue's active ones plus the completed ones of the period)."""
    threshold = queue.settings.sla_threshold
    active = [i for i in interactions if i.is_active and i.queue_id == queue.id]
    waiting = [i for i in active if i.status in (Status.OPEN, Status.PENDING)]
    offered = met = 0
    answer_times: list[float] = []
    for ix in interactions:
        if ix.answered_at is not None:
            wait = (ix.answered_at - ix.created_at).total_seconds()
            answer_times.append(wait)
            offered += 1
            met += wait <= threshold
        elif (now - ix.created_at).total_seconds() > threshold:
            offered += 1
    return QueueFigures(
        queue_id=queue.id,
        active=len(active),
        waiting=len(waiting),
        claimed=sum(i.status is Status.CLAIMED for i in active),
        wrap_up=sum(i.status is Status.WRAP_UP for i in active),
        longest_wait_seconds=max(((now - i.created_at).total_seconds() for i in waiting), default=0.0),
        offered=offered,
        answered_within_threshold=met,
        service_level=met / offered if offered else None,
        average_speed_of_answer_seconds=sum(answer_times) / len(answer_times) if answer_times else None,
    )
