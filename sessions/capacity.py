"""Capacity on a manual claim (pure).

The dispatcher never offers beyond an agent's capacity, but a person can take
work by hand: an open interaction claimed from the queue list.  That claim is
held to the same capacity (what the claimer already holds or is offered on
the interaction's channel), so an agent cannot stack a second call on the one
they are on.  A supervisor or admin may take one over capacity, but only by
saying so (``override``); the feed records it.  Accepting an offer made to
oneself is never refused: whoever made the offer (the dispatcher within
capacity, a transfer on purpose) already decided.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from . import machine
from .errors import IllegalTransition, PermissionDenied
from .events import Change
from .model import Channel, Interaction, Role, Status, User


def accepting_offer(ix: Interaction, actor: User) -> bool:
    return ix.status is Status.PENDING and ix.offered_to == actor.id


def claim(ix: Interaction, *, actor: User, load: Counter[Channel], override: bool, now: datetime) -> Change:
    """``machine.claim`` within ``actor``'s capacity on the channel, given what they hold or are offered (``load``).

    Access first (a non-member learns nothing), then who may override, then the state (as a claim
    checks it), then capacity: a 409 saying which channel is full and how to go over it.
    """
    machine.require_access(ix, actor)
    if override and actor.role is Role.AGENT:
        raise PermissionDenied(f"Only supervisors and admins can claim over capacity; {actor.name} is an agent.")
    change = machine.claim(ix, actor=actor, now=now)
    if accepting_offer(ix, actor):
        return change
    channel = ix.channel
    held, limit = load[channel], actor.capacity_for(channel)
    if held < limit:
        return change
    if not override:
        how = (
            "claim it with override"
            if actor.role is not Role.AGENT
            else "a supervisor can claim it with override, or assign it"
        )
        raise IllegalTransition(
            f"{actor.name} is at capacity for {channel.value} ({held} of {limit}); finish one first, or {how}."
        )
    over = {"channel": channel.value, "load": held, "capacity": limit}
    entry = change.interaction.activity[-1]
    entry.detail += f" over capacity ({channel.value}: {held} of {limit} already), by override"
    entry.data["over_capacity"] = over
    return Change(change.interaction, change.type, {**change.data, "over_capacity": over})
