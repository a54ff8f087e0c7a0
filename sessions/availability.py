"""Agent presence, capacity, and who gets offered what (pure decisions).

Presence is what the agent chose (available or away) combined with facts:
no live console connection means offline; a channel at capacity means busy.
Offers go to the longest-idle available agent of the queue with free
capacity on the interaction's channel; an agent who already declined or let
an offer of this interaction ring out is tried only after everyone else.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .model import Channel, Interaction, Model, Status, User


class PresenceStatus(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


#: What an agent may choose; busy and offline are derived.
CHOOSABLE = frozenset({PresenceStatus.AVAILABLE, PresenceStatus.AWAY})


class PresenceChoice(Model):
    status: PresenceStatus = PresenceStatus.AVAILABLE
    since: datetime | None = None


def load_of(user_id: str, interactions: list[Interaction]) -> Counter[Channel]:
    """Interactions occupying the user per channel: offered to them, claimed or in wrap-up."""
    return Counter(ix.channel for ix in interactions if ix.is_active and user_id in (ix.assigned_to, ix.offered_to))


def effective(user: User, choice: PresenceChoice, connected: bool, load: Counter[Channel]) -> PresenceStatus:
    if not connected:
        return PresenceStatus.OFFLINE
    if choice.status is PresenceStatus.AWAY:
        return PresenceStatus.AWAY
    if any(n >= user.capacity_for(ch) for ch, n in load.items() if n):
        return PresenceStatus.BUSY
    return PresenceStatus.AVAILABLE


@dataclass
class Agent:
    user: User
    choice: PresenceChoice
    connected: bool
    load: Counter[Channel]
    #: When the agent was last offered or given work (0: never): smaller is idler.
    last_routed: float = 0.0

    def can_take(self, channel: Channel) -> bool:
        return (
            self.user.routable
            and self.connected
            and self.choice.status is PresenceStatus.AVAILABLE
            and self.load[channel] < self.user.capacity_for(channel)
        )


@dataclass(frozen=True)
class Offer:
    interaction_id: str
    user_id: str


def tried(ix: Interaction) -> dict[str, int]:
    """Users who declined or let an offer of ``ix`` ring out, with the feed position of the last time."""
    out: dict[str, int] = {}
    for i, entry in enumerate(ix.activity):
        if entry.kind in ("offer_declined", "offer_expired"):
            user = entry.data.get("user") or entry.by
            out[str(user)] = i
    return out


def plan_offers(waiting: list[Interaction], agents: list[Agent], now_ts: float) -> list[Offer]:
    """Offers for open interactions, oldest first, never over anyone's capacity.

    ``waiting`` must be the open interactions in the order they should be
    served (oldest first).  Loads are updated as offers are planned, so one
    round never gives an agent more than their free capacity.
    """
    offers: list[Offer] = []
    for ix in waiting:
        if ix.status is not Status.OPEN:
            continue
        already = tried(ix)
        candidates = [a for a in agents if ix.queue_id in a.user.queues and a.can_take(ix.channel)]
        if not candidates:
            continue
        best = min(
            candidates, key=lambda a: (a.user.id in already, already.get(a.user.id, -1), a.last_routed, a.user.id)
        )
        best.load[ix.channel] += 1
        best.last_routed = now_ts
        offers.append(Offer(ix.id, best.user.id))
    return offers
