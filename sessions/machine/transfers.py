"""Transfers and consults: cold and warm transfers, the consult's join, completion and cancel, and requeue."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .. import disconnect, reach
from ..errors import IllegalTransition, InvalidCommand, PermissionDenied
from ..events import Change, EventType
from ..model import (
    CommType,
    Consult,
    DisconnectBy,
    DisconnectReason,
    Handoff,
    Interaction,
    Outcome,
    Status,
    TargetKind,
    TransferMode,
    TransferTarget,
    User,
)
from ..queues import Queue
from ..transitions import Command, check
from .steps import SYSTEM, end_call_control, log, next_version, to_queue

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _check_target(
    ix: Interaction, target: TransferTarget, target_queue: Queue | None, target_user: User | None
) -> None:
    if target.kind is TargetKind.QUEUE and (target_queue is None or target_queue.id != target.id):
        raise InvalidCommand(f"Transfer target queue {target.id} was not resolved.")
    if target.kind is TargetKind.USER:
        if target_user is None or target_user.id != target.id:
            raise InvalidCommand(f"Transfer target user {target.id} was not resolved.")
        if target_user.id == ix.assigned_to:
            raise InvalidCommand(f"Interaction {ix.id} is already assigned to {target_user.name}.")
    if target.kind is TargetKind.EXTERNAL:
        reach.require_outside(ix)
    if target.kind is TargetKind.EXTERNAL and not E164.match(target.id):
        raise InvalidCommand(f"{target.id!r} is not a phone number in E.164 form (e.g. +14155550100).")


def _apply_transfer(
    nxt: Interaction,
    target: TransferTarget,
    queue: Queue,
    target_queue: Queue | None,
    target_user: User | None,
    now: datetime,
    by: str,
    accepted: bool = False,
) -> str:
    """Moves ``nxt`` to ``target``; returns the feed text.

    ``accepted``: the user target already took it (on a consult).
    """
    nxt.consult = None
    end_call_control(nxt)
    if target.kind is TargetKind.QUEUE:
        assert target_queue is not None
        nxt.queue_id = target_queue.id
        to_queue(nxt)
        return f"to queue {target_queue.id}"
    if target.kind is TargetKind.USER:
        assert target_user is not None
        to_queue(nxt)
        if accepted:
            nxt.status = Status.CLAIMED
            nxt.assigned_to = target_user.id
            nxt.claimed_at = now
            return f"to {target_user.name}, who took the call on the consult"
        nxt.status = Status.PENDING
        nxt.offered_to = target_user.id
        nxt.offer_expires_at = now + timedelta(seconds=queue.settings.ring_time)
        return f"to {target_user.name}"
    # External: the customer is handed to someone outside; whoever transferred wraps up
    # (the assignee, or the supervisor who sent an unclaimed one out).
    nxt.assigned_to = nxt.assigned_to or by
    nxt.offered_to = None
    nxt.offer_expires_at = None
    nxt.status = Status.WRAP_UP
    nxt.outcome = Outcome.RESOLVED
    nxt.wrap_up_at = now
    disconnect.ended_by_agent(nxt, nxt, DisconnectReason.TRANSFERRED, now)
    return f"to external number {target.id}"


def transfer(
    ix: Interaction,
    *,
    actor: User,
    target: TransferTarget,
    mode: TransferMode,
    queue: Queue,
    now: datetime,
    target_queue: Queue | None = None,
    target_user: User | None = None,
    note: str = "",
) -> Change:
    """Cold: moves it now.  Warm (calls only): starts a consult; the customer holds.

    ``note``: what the receiver should know, handed over with it (``Interaction.handoff``; a warm transfer's when
    the consult completes)."""
    check(Command.TRANSFER, ix, actor)
    if ix.queue_id != queue.id:
        raise InvalidCommand("queue must be the interaction's own queue")
    _check_target(ix, target, target_queue, target_user)
    nxt = next_version(ix)
    data = {"target": target.model_dump(mode="json"), "mode": mode.value, **({"note": note} if note else {})}
    if mode is TransferMode.WARM:
        if ix.type is not CommType.CALL:
            raise IllegalTransition(
                f"Warm transfer is for calls; interaction {ix.id} is {ix.type.value}: transfer it cold."
            )
        if ix.status is not Status.CLAIMED:
            raise IllegalTransition(f"Cannot consult on interaction {ix.id}: it is {ix.status.value}; claim it first.")
        nxt.consult = Consult(target=target, by=actor.id, started_at=now, note=note)
        log(
            nxt, now, "consult_started", actor.id, f"{actor.name} is consulting {target.kind.value} {target.id}", **data
        )
        return Change(nxt, EventType.CONSULT_STARTED, data)
    text = _apply_transfer(nxt, target, queue, target_queue, target_user, now, actor.id)
    nxt.handoff = Handoff(by=actor.id, at=now, from_queue=ix.queue_id, mode=mode, note=note)
    data.update(disconnect.as_data(nxt.disconnect) if target.kind is TargetKind.EXTERNAL else {})
    log(nxt, now, "transferred", actor.id, f"Cold transfer by {actor.name} {text}", **data, from_queue=ix.queue_id)
    return Change(nxt, EventType.TRANSFERRED, data)


def complete_consult(
    ix: Interaction,
    *,
    actor: User,
    queue: Queue,
    now: datetime,
    target_queue: Queue | None = None,
    target_user: User | None = None,
) -> Change:
    """The warm transfer's second half: the consulted target takes over.

    A user who joined the consult has already accepted the call: it is theirs
    at once.  One who never came on the line gets it as an offer, like a cold
    transfer, so a call is never assigned to someone who is not there.
    """
    check(Command.COMPLETE_CONSULT, ix, actor)
    if ix.consult is None:
        raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
    target = ix.consult.target
    _check_target(ix, target, target_queue, target_user)
    nxt = next_version(ix)
    text = _apply_transfer(
        nxt, target, queue, target_queue, target_user, now, actor.id, accepted=ix.consult.joined_at is not None
    )
    note = ix.consult.note
    nxt.handoff = Handoff(by=actor.id, at=now, from_queue=ix.queue_id, mode=TransferMode.WARM, note=note)
    data = {
        "target": target.model_dump(mode="json"),
        "mode": TransferMode.WARM.value,
        **({"note": note} if note else {}),
    }
    log(nxt, now, "transferred", actor.id, f"Warm transfer by {actor.name} {text}", **data, from_queue=ix.queue_id)
    return Change(nxt, EventType.TRANSFERRED, data)


def join_consult(ix: Interaction, *, actor: User, now: datetime) -> Change:
    """The consulted user comes on the line (their audio connects): they have accepted the warm transfer."""
    check(Command.JOIN_CONSULT, ix, actor)
    consult = ix.consult
    if consult is None or consult.target.kind is not TargetKind.USER or consult.target.id != actor.id:
        raise PermissionDenied(f"{actor.name} is not the one being consulted on interaction {ix.id}.")
    if consult.joined_at is not None:
        raise IllegalTransition(f"{actor.name} already joined the consult on interaction {ix.id}.")
    nxt = next_version(ix)
    nxt.consult = consult.model_copy(update={"joined_at": now})
    log(nxt, now, "consult_joined", actor.id, f"{actor.name} joined the consult")
    return Change(nxt, EventType.CONSULT_JOINED, {"user": actor.id})


def requeue(ix: Interaction, *, reason: str, now: datetime, from_user: str | None = None) -> Change:
    """The system takes a claimed call back from an agent who is gone (their audio dropped and did not return).

    ``from_user``: only from this agent; a call that has moved on to someone else stays with them.
    """
    check(Command.REQUEUE, ix, None)
    if from_user is not None and ix.assigned_to != from_user:
        raise IllegalTransition(f"Interaction {ix.id} is no longer with {from_user}: not requeued.")
    nxt = next_version(ix)
    gone = ix.assigned_to
    to_queue(nxt)
    nxt.consult = None
    end_call_control(nxt)
    dropped = disconnect.as_data(
        disconnect.record(ix, DisconnectBy.AGENT, DisconnectReason.NETWORK_DROP, now)
    )  # the agent's leg, not the contact
    log(nxt, now, "requeued", SYSTEM, f"Back in the queue: {reason}", user=gone, **dropped)
    return Change(nxt, EventType.REQUEUED, {"user": gone, "reason": reason, **dropped})


def cancel_consult(ix: Interaction, *, actor: User, now: datetime) -> Change:
    check(Command.CANCEL_CONSULT, ix, actor)
    if ix.consult is None:
        raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
    nxt = next_version(ix)
    target = ix.consult.target
    nxt.consult = None
    end_call_control(nxt)
    log(
        nxt,
        now,
        "consult_cancelled",
        actor.id,
        f"{actor.name} cancelled the consult with {target.kind.value} {target.id}",
    )
    return Change(nxt, EventType.CONSULT_CANCELLED, {"target": target.model_dump(mode="json")})
