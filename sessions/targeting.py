"""Routing among those who can answer, and routing again when tags change (pure decisions).

``routing.decide`` ranks queues and users by tags alone.  A user target is
rung for the queue's whole ring time, so ringing someone whose console is
closed, who chose away, whose channel is full, or who does not take routed
work only delays the customer: such users are skipped (and named in the
decision) and the decision is taken again without them.

Tags edited on an interaction still waiting (open, or ringing for someone)
are routing input that arrived late: the queues are scored again on the
tags as the person left them (workflows tag from arrival facts and do not
run again), and if another queue now ranks strictly first, the interaction
moves there, like a cold transfer by the system, withdrawing a ringing offer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from . import routing
from .availability import Agent, PresenceStatus
from .errors import IllegalTransition
from .events import Change, EventType
from .machine import SYSTEM
from .model import ActivityEntry, Channel, CommType, Interaction, State, Status, TargetKind, TransferMode, User
from .queues import Queue
from .routing import Arrival, Decision, RoutingConfig

#: Why routing changed the queue, in the feed entry's data.
TAGS_CHANGED = "tags_changed"


def unreachable(user: User, agent: Agent | None, channel: Channel) -> str | None:
    """Why ``user`` cannot be rung for an interaction on ``channel`` now; None if they can."""
    if not user.routable:
        return "does not take routed work"
    if agent is None or not agent.connected:
        return "no console connected"
    if agent.choice.status is PresenceStatus.AWAY:
        return "away"
    if agent.load[channel] >= user.capacity_for(channel):
        return f"at capacity for {channel.value}"
    return None


def decide_reachable(
    arrival: Arrival,
    config: RoutingConfig,
    queues: list[Queue],
    users: list[User],
    agents: list[Agent],
    last_routed: dict[str, float],
    fallback_queue: str | None = None,
) -> Decision:
    """``routing.decide``, skipping each best-matching user who
    cannot take it now until the winner can (or is a queue)."""
    channel = Channel.CALL if arrival.type is CommType.CALL else Channel(arrival.subtype.value)
    by_id = {a.user.id: a for a in agents}
    skipped: dict[str, str] = {}
    candidates = list(users)
    while True:
        decision = routing.decide(arrival, config, queues, candidates, last_routed, fallback_queue)
        if decision.kind != "user":
            break
        user = next(u for u in candidates if u.id == decision.target)
        why = unreachable(user, by_id.get(user.id), channel)
        if why is None:
            break
        skipped[f"user:{user.id}"] = why
        candidates = [u for u in candidates if u.id != user.id]
    if not skipped:
        return decision
    names = ", ".join(f"{key.removeprefix('user:')} ({why})" for key, why in skipped.items())
    return replace(decision, reason=f"{decision.reason}; skipped {names}", skipped=skipped)


def _rank(queue: Queue, tags: list[str]) -> tuple[int, float] | None:
    """A queue's place for these tags (more required tags met, then score); None if it does not take them."""
    if not set(queue.required_tags) <= set(tags):
        return None
    return (len(queue.required_tags), routing.score(tags, queue.tags))


def reroute_target(ix: Interaction, queues: list[Queue], last_routed: dict[str, float]) -> Decision | None:
    """Where ``ix`` should go now that its tags changed: a decision naming another queue, or None to stay.

    Only queues compete (an offer to a person is the dispatcher's job once it waits in the right
    queue); nothing matching, or the current queue ranking level with the best, keeps it where it is.
    """
    if ix.state is not State.ACTIVE or ix.status not in (Status.OPEN, Status.PENDING):
        return None
    arrival = Arrival(
        type=ix.type,
        subtype=ix.subtype,
        to_address=ix.to_address,
        attributes=ix.customer.attributes,
        tags=tuple(ix.tags),
    )
    decision = routing.decide(arrival, RoutingConfig(), queues, [], last_routed, fallback_queue=ix.queue_id)
    if decision.kind != "queue" or decision.target == ix.queue_id:
        return None
    current = next((q for q in queues if q.id == ix.queue_id), None)
    winner = next(q for q in queues if q.id == decision.target)
    here, best = (_rank(current, ix.tags) if current else None), _rank(winner, ix.tags)
    if here is not None and best is not None and here >= best:
        return None
    return decision


def reroute(ix: Interaction, *, decision: Decision, tags: list[str], now: datetime) -> Change:
    """Moves a waiting interaction to the queue ``decision`` names; the system does it, the feed says why.

    ``tags``: the tags the decision was made on; if they changed meanwhile, or it was claimed or moved,
    the decision is stale and refused.
    """
    if ix.state is not State.ACTIVE or ix.status not in (Status.OPEN, Status.PENDING):
        raise IllegalTransition(f"Interaction {ix.id} is {ix.status.value}: it is no longer waiting to be routed.")
    if ix.tags != tags or ix.queue_id == decision.target:
        raise IllegalTransition(f"Interaction {ix.id} changed meanwhile: not re-routed on stale tags.")
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    nxt.queue_id = decision.target
    nxt.status = Status.OPEN
    nxt.assigned_to = nxt.offered_to = None
    nxt.offer_expires_at = nxt.claimed_at = None
    detail = f"Re-routed by the system to queue {decision.target} because its tags changed: {decision.reason}"
    if ix.offered_to:
        detail += f"; offer to {ix.offered_to} withdrawn"
    target = {"kind": TargetKind.QUEUE.value, "id": decision.target}
    data = {"target": target, "mode": TransferMode.COLD.value, "reason": TAGS_CHANGED}
    nxt.activity.append(
        ActivityEntry(
            at=now,
            kind="transferred",
            by=SYSTEM,
            detail=detail,
            data={**data, "from_queue": ix.queue_id, "withdrawn_offer": ix.offered_to, "routing": decision.as_data()},
        )
    )
    return Change(nxt, EventType.TRANSFERRED, {**data, "by": SYSTEM})
