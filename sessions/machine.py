"""The interaction state machine, as pure functions.

Each command takes the current interaction (never mutated), who asks, the
facts it needs (queue settings, the target) and ``now``, checks that the
command is legal, and returns a :class:`Change`: the next version of the
interaction plus the event type that records it.  No clock, no ids, no store:
the caller supplies those, so the same function runs under SQLite,
PostgreSQL, a replay and a property test alike.

Who may do what:

* anyone who can see the queue (a member, or an admin) claims an open
  interaction, or one offered to them;
* the *handler* (the assignee, or a supervisor/admin of the queue) transfers,
  switches channel, ends and completes;
* ``actor=None`` is the system or the customer (provider callbacks, timers).

Access before state: every command that looks at the state does so through
:func:`_require`, which checks that the actor may see the interaction first.
Someone outside its queue is refused (403) whatever the status, so a refusal
never tells them what state an interaction they may not see is in (a 409
would).  Whether a *member* may act (are they the handler?) is checked after
the state, so members still learn why a command does not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from . import disconnect
from .errors import FieldNotEditable, IllegalTransition, InvalidCommand, PermissionDenied
from .events import Event
from .merge_patch import merge_patch
from .model import (
    ACTIVE_STATUSES,
    EDITABLE_AFTER_COMPLETION,
    FROZEN_AFTER_COMPLETION,
    SUBTYPES,
    SWITCHABLE_TYPES,
    ActivityEntry,
    ChannelChange,
    CommType,
    Consult,
    Customer,
    Direction,
    DisconnectBy,
    DisconnectReason,
    Interaction,
    Message,
    Note,
    Outcome,
    Queue,
    Recording,
    Role,
    State,
    Status,
    Subtype,
    TargetKind,
    Transcript,
    TransferMode,
    TransferTarget,
    User,
)

SYSTEM = "system"
CUSTOMER = "customer"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class Change:
    """The outcome of a legal command: the next interaction and how to record it."""

    interaction: Interaction
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def event_for(before: Interaction | None, change: Change, at: datetime) -> Event:
    """The event recording ``change``, addressed to every queue and user it touches."""
    after = change.interaction
    queues = [after.queue_id]
    users: list[str] = []
    for ix in (after, before):
        if ix is None:
            continue
        if ix.queue_id not in queues:
            queues.append(ix.queue_id)
        for uid in (ix.assigned_to, ix.offered_to):
            if uid and uid not in users:
                users.append(uid)
        if ix.consult and ix.consult.target.kind is TargetKind.USER and ix.consult.target.id not in users:
            users.append(ix.consult.target.id)
    if has_chat(after):
        users.append(chat_audience(after.id))
    return Event(type=change.type, at=at, interaction=after, queues=queues, users=users, data=change.data)


def chat_audience(interaction_id: str) -> str:
    """The audience name of the customer's chat widget for an interaction."""
    return f"chat:{interaction_id}"


def has_chat(ix: Interaction) -> bool:
    """Whether a customer's chat widget follows this interaction (it began as, or became, a chat)."""
    return ix.subtype is Subtype.CHAT or any(Subtype.CHAT in (c.from_subtype, c.to_subtype) for c in ix.channel_history)


# -- helpers -----------------------------------------------------------------


def _who(actor: User | None) -> str:
    return actor.id if actor else SYSTEM


def _name(actor: User | None) -> str:
    return actor.name if actor else "the system"


def _next(ix: Interaction) -> Interaction:
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    return nxt


def _log(ix: Interaction, at: datetime, kind: str, by: str, detail: str, **data: Any) -> None:
    ix.activity.append(ActivityEntry(at=at, kind=kind, by=by, detail=detail, data=data))


def require_access(ix: Interaction, actor: User | None) -> None:
    """Whether ``actor`` may see the interaction at all: a member of its queue, its assignee or offeree, or the user consulted."""
    if actor is None or actor.can_see_queue(ix.queue_id) or actor.id in (ix.assigned_to, ix.offered_to):
        return
    if ix.consults(actor.id):
        return  # the user consulted on a warm transfer sees the call they are asked to take
    raise PermissionDenied(f"{actor.name} is not a member of queue {ix.queue_id}.")


def require_handler(ix: Interaction, actor: User | None, action: str) -> None:
    """The assignee acts on their interaction; supervisors and admins on any of their queues'."""
    if actor is None or actor.id == ix.assigned_to:
        return
    require_access(ix, actor)
    if actor.role is Role.AGENT:
        raise PermissionDenied(f"Only the agent handling interaction {ix.id}, or a supervisor, can {action} it.")


def _require(ix: Interaction, actor: User | None, action: str, *allowed: Status, handler: bool = False) -> None:
    """The guard of every command that depends on the state: access, then state, then (``handler``) who handles it.

    ``allowed`` names the statuses the command fits; none means any active one.
    """
    require_access(ix, actor)
    if ix.status not in (allowed or ACTIVE_STATUSES):
        if ix.state is not State.ACTIVE and Status.COMPLETED not in allowed:
            raise IllegalTransition(f"Cannot {action} interaction {ix.id}: it is completed.")
        wanted = " or ".join(s.value for s in allowed)
        raise IllegalTransition(f"Cannot {action} interaction {ix.id}: it is {ix.status.value}, and only {wanted} ones can be.")
    if handler:
        require_handler(ix, actor, action)


def _require_no_consult(ix: Interaction, action: str) -> None:
    if ix.consult is not None:
        raise IllegalTransition(f"Cannot {action} interaction {ix.id} during a consult: complete or cancel the consult first.")


def _to_queue(ix: Interaction) -> None:
    ix.status = Status.OPEN
    ix.assigned_to = None
    ix.offered_to = None
    ix.offer_expires_at = None
    ix.claimed_at = None


# -- creation ----------------------------------------------------------------


def create(
    *,
    id: str,
    queue: Queue,
    direction: Direction,
    type: CommType,
    subtype: Subtype,
    now: datetime,
    actor: User | None = None,
    customer: Customer | None = None,
    tags: list[str] | None = None,
    subject: str | None = None,
    parent_id: str | None = None,
    to_address: str | None = None,
    routing: dict[str, Any] | None = None,
) -> Change:
    """A new active interaction.

    Inbound contacts wait in the queue (open).  An outbound one started by a
    user is theirs from the start (claimed): the agent is already talking.
    """
    if type is CommType.EMAIL:
        raise InvalidCommand("The email communication type is reserved: no channel handles it yet.")
    if subtype not in SUBTYPES[type]:
        raise InvalidCommand(f"Subtype {subtype.value} does not belong to type {type.value}.")
    if direction is Direction.OUTBOUND and type is CommType.VOICEMAIL:
        raise InvalidCommand("Voicemail is only ever inbound: call or text the customer instead.")
    if actor is not None and not actor.can_see_queue(queue.id):
        raise PermissionDenied(f"{actor.name} is not a member of queue {queue.id}.")
    ix = Interaction(
        id=id,
        queue_id=queue.id,
        direction=direction,
        type=type,
        subtype=subtype,
        customer=customer or Customer(),
        tags=list(dict.fromkeys(tags or [])),
        subject=subject,
        created_by=actor.id if actor else None,
        created_at=now,
        parent_id=parent_id,
        # Outbound contacts come from the queue's number, and replies to it thread back here.
        to_address=to_address or (queue.settings.phone_number if direction is Direction.OUTBOUND else None),
    )
    detail = f"{direction.value.capitalize()} {type.value}/{subtype.value} created in queue {queue.id}"
    if parent_id:
        detail += f" as a follow-up of {parent_id}"
    _log(ix, now, "created", _who(actor) if actor else (CUSTOMER if direction is Direction.INBOUND else SYSTEM), detail)
    if routing is not None:
        _log(ix, now, "routed", SYSTEM, f"Routed to {routing['target']}: {routing['reason']}", **routing)
    if direction is Direction.OUTBOUND and actor is not None:
        ix.status = Status.CLAIMED
        ix.assigned_to = actor.id
        ix.claimed_at = ix.answered_at = now
        _log(ix, now, "claimed", actor.id, f"Claimed by {actor.name}")
    return Change(ix, "interaction.created", {"parent_id": parent_id} if parent_id else {})


def clone(parent: Interaction, *, id: str, queue: Queue, actor: User, now: datetime) -> Change:
    """A follow-up: a new active outbound interaction for the same customer, linked to its parent."""
    _require(parent, actor, "clone", Status.COMPLETED)
    return create(
        id=id,
        queue=queue,
        direction=Direction.OUTBOUND,
        type=parent.type if parent.type in SWITCHABLE_TYPES else CommType.CALL,
        subtype=parent.subtype if parent.type in SWITCHABLE_TYPES else Subtype.PHONE,
        now=now,
        actor=actor,
        customer=parent.customer.model_copy(deep=True),
        tags=parent.tags,
        subject=parent.subject,
        parent_id=parent.id,
    )


# -- routing to people -------------------------------------------------------


def offer(ix: Interaction, *, to: User, queue: Queue, now: datetime) -> Change:
    """Ring one user for the queue's ring time; unanswered, it falls back to open."""
    _require(ix, None, "offer", Status.OPEN)
    if not to.can_see_queue(ix.queue_id):
        raise PermissionDenied(f"{to.name} is not a member of queue {ix.queue_id}.")
    nxt = _next(ix)
    nxt.status = Status.PENDING
    nxt.offered_to = to.id
    nxt.offer_expires_at = now + timedelta(seconds=queue.settings.ring_time)
    _log(nxt, now, "offered", SYSTEM, f"Offered to {to.name} for {queue.settings.ring_time}s", user=to.id)
    return Change(nxt, "interaction.offered", {"user": to.id})


def decline(ix: Interaction, *, actor: User, now: datetime) -> Change:
    _require(ix, actor, "decline", Status.PENDING)
    if ix.offered_to != actor.id:
        raise PermissionDenied(f"Interaction {ix.id} is not offered to {actor.name}.")
    nxt = _next(ix)
    _to_queue(nxt)
    _log(nxt, now, "offer_declined", actor.id, f"Declined by {actor.name}; back in queue {ix.queue_id}")
    return Change(nxt, "interaction.offer_declined", {"user": actor.id})


def expire_offer(ix: Interaction, *, now: datetime) -> Change:
    _require(ix, None, "expire the offer of", Status.PENDING)
    if ix.offer_expires_at is None or now < ix.offer_expires_at:
        raise IllegalTransition(f"The offer of interaction {ix.id} is still ringing.")
    nxt = _next(ix)
    who = ix.offered_to
    _to_queue(nxt)
    _log(nxt, now, "offer_expired", SYSTEM, f"Offer to {who} not answered; back in queue {ix.queue_id}", user=who)
    return Change(nxt, "interaction.offer_expired", {"user": who})


def claim(ix: Interaction, *, actor: User, now: datetime) -> Change:
    _require(ix, actor, "claim")
    if ix.status is Status.PENDING and ix.offered_to != actor.id:
        raise IllegalTransition(f"Cannot claim interaction {ix.id}: it is being offered to another user.")
    if ix.status not in (Status.OPEN, Status.PENDING):
        holder = f" by {ix.assigned_to}" if ix.assigned_to else ""
        raise IllegalTransition(f"Cannot claim interaction {ix.id}: it is already {ix.status.value}{holder}.")
    nxt = _next(ix)
    nxt.status = Status.CLAIMED
    nxt.assigned_to = actor.id
    nxt.offered_to = None
    nxt.offer_expires_at = None
    nxt.claimed_at = now
    nxt.answered_at = nxt.answered_at or now
    nxt.outcome = None
    _log(nxt, now, "claimed", actor.id, f"Claimed by {actor.name}")
    return Change(nxt, "interaction.claimed", {"user": actor.id})


# -- transfers ---------------------------------------------------------------


def _check_target(ix: Interaction, target: TransferTarget, target_queue: Queue | None, target_user: User | None) -> None:
    if target.kind is TargetKind.QUEUE and (target_queue is None or target_queue.id != target.id):
        raise InvalidCommand(f"Transfer target queue {target.id} was not resolved.")
    if target.kind is TargetKind.USER:
        if target_user is None or target_user.id != target.id:
            raise InvalidCommand(f"Transfer target user {target.id} was not resolved.")
        if target_user.id == ix.assigned_to:
            raise InvalidCommand(f"Interaction {ix.id} is already assigned to {target_user.name}.")
    if target.kind is TargetKind.EXTERNAL and not E164.match(target.id):
        raise InvalidCommand(f"{target.id!r} is not a phone number in E.164 form (e.g. +14155550100).")


def _apply_transfer(nxt: Interaction, target: TransferTarget, queue: Queue, target_queue: Queue | None, target_user: User | None, now: datetime, by: str,
                    accepted: bool = False) -> str:
    """Moves ``nxt`` to ``target``; returns the feed text.  ``accepted``: the user target already took it (on a consult)."""
    nxt.consult = None
    if target.kind is TargetKind.QUEUE:
        assert target_queue is not None
        nxt.queue_id = target_queue.id
        _to_queue(nxt)
        return f"to queue {target_queue.id}"
    if target.kind is TargetKind.USER:
        assert target_user is not None
        _to_queue(nxt)
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
) -> Change:
    """Cold: moves it now.  Warm (calls only): starts a consult; the customer holds."""
    _require(ix, actor, "transfer", Status.OPEN, Status.PENDING, Status.CLAIMED, handler=True)
    _require_no_consult(ix, "transfer")
    if ix.queue_id != queue.id:
        raise InvalidCommand("queue must be the interaction's own queue")
    _check_target(ix, target, target_queue, target_user)
    nxt = _next(ix)
    data = {"target": target.model_dump(mode="json"), "mode": mode.value}
    if mode is TransferMode.WARM:
        if ix.type is not CommType.CALL:
            raise IllegalTransition(f"Warm transfer is for calls; interaction {ix.id} is {ix.type.value}: transfer it cold.")
        if ix.status is not Status.CLAIMED:
            raise IllegalTransition(f"Cannot consult on interaction {ix.id}: it is {ix.status.value}; claim it first.")
        nxt.consult = Consult(target=target, by=actor.id, started_at=now)
        _log(nxt, now, "consult_started", actor.id, f"{actor.name} is consulting {target.kind.value} {target.id}", **data)
        return Change(nxt, "interaction.consult_started", data)
    text = _apply_transfer(nxt, target, queue, target_queue, target_user, now, actor.id)
    data.update(disconnect.as_data(nxt.disconnect) if target.kind is TargetKind.EXTERNAL else {})
    _log(nxt, now, "transferred", actor.id, f"Cold transfer by {actor.name} {text}", **data, from_queue=ix.queue_id)
    return Change(nxt, "interaction.transferred", data)


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
    _require(ix, actor, "complete the consult of", handler=True)
    if ix.consult is None:
        raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
    target = ix.consult.target
    _check_target(ix, target, target_queue, target_user)
    nxt = _next(ix)
    text = _apply_transfer(nxt, target, queue, target_queue, target_user, now, actor.id, accepted=ix.consult.joined_at is not None)
    data = {"target": target.model_dump(mode="json"), "mode": TransferMode.WARM.value}
    _log(nxt, now, "transferred", actor.id, f"Warm transfer by {actor.name} {text}", **data, from_queue=ix.queue_id)
    return Change(nxt, "interaction.transferred", data)


def join_consult(ix: Interaction, *, actor: User, now: datetime) -> Change:
    """The consulted user comes on the line (their audio connects): they have accepted the warm transfer."""
    _require(ix, actor, "join the consult of")
    consult = ix.consult
    if consult is None or consult.target.kind is not TargetKind.USER or consult.target.id != actor.id:
        raise PermissionDenied(f"{actor.name} is not the one being consulted on interaction {ix.id}.")
    if consult.joined_at is not None:
        raise IllegalTransition(f"{actor.name} already joined the consult on interaction {ix.id}.")
    nxt = _next(ix)
    nxt.consult = consult.model_copy(update={"joined_at": now})
    _log(nxt, now, "consult_joined", actor.id, f"{actor.name} joined the consult")
    return Change(nxt, "interaction.consult_joined", {"user": actor.id})


def requeue(ix: Interaction, *, reason: str, now: datetime, from_user: str | None = None) -> Change:
    """The system takes a claimed call back from an agent who is gone (their audio dropped and did not return).

    ``from_user``: only from this agent; a call that has moved on to someone else stays with them.
    """
    _require(ix, None, "requeue", Status.CLAIMED)
    if from_user is not None and ix.assigned_to != from_user:
        raise IllegalTransition(f"Interaction {ix.id} is no longer with {from_user}: not requeued.")
    nxt = _next(ix)
    gone = ix.assigned_to
    _to_queue(nxt)
    nxt.consult = None
    dropped = disconnect.as_data(disconnect.record(ix, DisconnectBy.AGENT, DisconnectReason.NETWORK_DROP, now))  # the agent's leg, not the contact
    _log(nxt, now, "requeued", SYSTEM, f"Back in the queue: {reason}", user=gone, **dropped)
    return Change(nxt, "interaction.requeued", {"user": gone, "reason": reason, **dropped})


def cancel_consult(ix: Interaction, *, actor: User, now: datetime) -> Change:
    _require(ix, actor, "cancel the consult of", handler=True)
    if ix.consult is None:
        raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
    nxt = _next(ix)
    target = ix.consult.target
    nxt.consult = None
    _log(nxt, now, "consult_cancelled", actor.id, f"{actor.name} cancelled the consult with {target.kind.value} {target.id}")
    return Change(nxt, "interaction.consult_cancelled", {"target": target.model_dump(mode="json")})


# -- conversation ------------------------------------------------------------


def switch_channel(ix: Interaction, *, actor: User | None, type: CommType, subtype: Subtype, now: datetime) -> Change:
    """Continue on another channel (a call going on by SMS, and back): same id, history kept."""
    _require(ix, actor, "switch the channel of", handler=True)
    _require_no_consult(ix, "switch the channel of")
    if type not in SWITCHABLE_TYPES:
        raise InvalidCommand(f"An interaction can switch to call or messaging, not {type.value}.")
    if subtype not in SUBTYPES[type]:
        raise InvalidCommand(f"Subtype {subtype.value} does not belong to type {type.value}.")
    if (type, subtype) == (ix.type, ix.subtype):
        raise IllegalTransition(f"Interaction {ix.id} is already {type.value}/{subtype.value}.")
    nxt = _next(ix)
    by = _who(actor)
    nxt.channel_history.append(ChannelChange(at=now, by=by, from_type=ix.type, from_subtype=ix.subtype, to_type=type, to_subtype=subtype))
    nxt.type, nxt.subtype = type, subtype
    nxt.disconnect = None  # the conversation goes on: whatever ended before is behind it
    _log(nxt, now, "channel_switched", by, f"Switched from {ix.type.value}/{ix.subtype.value} to {type.value}/{subtype.value} by {_name(actor)}")
    return Change(nxt, "interaction.channel_switched", {"from": f"{ix.type.value}/{ix.subtype.value}", "to": f"{type.value}/{subtype.value}"})


def add_message(ix: Interaction, *, message: Message, actor: User | None, now: datetime) -> Change:
    """An inbound message comes from the customer (actor None); an outbound one from the handler.

    A customer's message is kept whatever it says (even empty: a picture-only text); a reply needs some text.
    """
    reply = message.direction is Direction.OUTBOUND and actor is not None
    _require(ix, actor, "reply on" if reply else "add a message to", handler=reply)
    if reply:
        if not message.body.strip():
            raise InvalidCommand("A reply needs some text.")
        if ix.type is not CommType.MESSAGING:
            raise IllegalTransition(f"Interaction {ix.id} is a {ix.type.value}: switch it to text or chat to send messages.")
        disconnect.require_reachable(ix)
    if any(m.id == message.id for m in ix.messages):
        raise IllegalTransition(f"Message {message.id} is already part of interaction {ix.id}.")
    nxt = _next(ix)
    nxt.messages.append(message)
    return Change(nxt, "interaction.message_added", {"message_id": message.id})


def update_message_status(ix: Interaction, *, message_id: str, status: str, error_code: str | None, now: datetime, provider_id: str | None = None) -> Change:
    """A provider delivery receipt; these trail the conversation, so completed ones accept them too."""
    for i, m in enumerate(ix.messages):
        if m.id == message_id or m.provider_id == message_id:
            break
    else:
        raise IllegalTransition(f"Interaction {ix.id} has no message {message_id}.")
    nxt = _next(ix)
    nxt.messages[i] = m.model_copy(update={"status": status, "error_code": error_code, "provider_id": provider_id or m.provider_id})
    return Change(nxt, "interaction.message_status", {"message_id": m.id, "status": status, "error_code": error_code})


def add_note(ix: Interaction, *, actor: User, note: Note, disposition: str | None = None, now: datetime) -> Change:
    require_access(ix, actor)
    if not note.body.strip() and disposition is None:
        raise InvalidCommand("A note needs a body or a disposition.")
    nxt = _next(ix)
    if note.body.strip():
        nxt.notes.append(note)
    if disposition is not None:
        nxt.disposition = disposition
    _log(nxt, now, "note_added", actor.id, f"Note by {actor.name}" + (f"; disposition {disposition}" if disposition else ""), note_id=note.id)
    return Change(nxt, "interaction.note_added", {"note_id": note.id, "disposition": disposition})


def mark_read(ix: Interaction, *, reader: User | None, now: datetime) -> Change:
    """Marks the other side's messages read: the customer's when an agent reads (reader set), the agents' when the customer does."""
    unread_from = Direction.INBOUND if reader is not None else Direction.OUTBOUND
    if reader is not None:
        require_access(ix, reader)
    ids = [m.id for m in ix.messages if m.direction is unread_from and m.status != "read"]
    if not ids:
        raise IllegalTransition(f"Interaction {ix.id} has no unread messages.")
    nxt = _next(ix)
    nxt.messages = [m.model_copy(update={"status": "read"}) if m.id in ids else m for m in ix.messages]
    return Change(nxt, "interaction.messages_read", {"ids": ids, "by": reader.id if reader else CUSTOMER})


def attach_recording(ix: Interaction, *, recording: Recording, now: datetime) -> Change:
    """Recordings arrive after the call: completed interactions take them too."""
    if any(r.id == recording.id for r in ix.recordings):
        raise IllegalTransition(f"Recording {recording.id} is already attached to interaction {ix.id}.")
    nxt = _next(ix)
    nxt.recordings.append(recording)
    _log(nxt, now, "recording_attached", SYSTEM, "Recording attached", recording_id=recording.id)
    return Change(nxt, "interaction.recording_attached", {"recording_id": recording.id})


def recording_stored(ix: Interaction, *, recording_id: str, uri: str, now: datetime) -> Change:
    """A pending recording's audio is now kept by the gateway."""
    for i, rec in enumerate(ix.recordings):
        if rec.id == recording_id:
            break
    else:
        raise IllegalTransition(f"Interaction {ix.id} has no recording {recording_id}.")
    if rec.status == "stored":
        raise IllegalTransition(f"Recording {recording_id} is already stored.")
    nxt = _next(ix)
    nxt.recordings[i] = rec.model_copy(update={"uri": uri, "status": "stored"})
    _log(nxt, now, "recording_stored", SYSTEM, "Recording downloaded and stored", recording_id=recording_id)
    return Change(nxt, "interaction.recording_stored", {"recording_id": recording_id})


def provider_status(ix: Interaction, *, kind: str, status: str, detail: str, now: datetime, by: str | None = None, **data: Any) -> Change:
    """A report about the live contact (call ringing, completed; held, monitored by whom...), kept in the feed.

    ``by``: the user who caused it (call control), else the customer's provider or the system.
    """
    nxt = _next(ix)
    _log(nxt, now, kind, by or (CUSTOMER if kind == "call_status" else SYSTEM), detail, status=status, **data)
    return Change(nxt, f"interaction.{kind}", {"status": status, **data})


def divert_to_voicemail(ix: Interaction, *, now: datetime, reason: str) -> Change:
    """An unanswered call becomes a voicemail: the caller is leaving a message instead."""
    _require(ix, None, "send to voicemail", Status.OPEN, Status.PENDING)
    if ix.type is not CommType.CALL:
        raise IllegalTransition(f"Only calls go to voicemail; interaction {ix.id} is {ix.type.value}.")
    nxt = _next(ix)
    _to_queue(nxt)
    nxt.channel_history.append(ChannelChange(at=now, by=SYSTEM, from_type=ix.type, from_subtype=ix.subtype, to_type=CommType.VOICEMAIL, to_subtype=Subtype.VOICEMAIL))
    nxt.type, nxt.subtype = CommType.VOICEMAIL, Subtype.VOICEMAIL
    _log(nxt, now, "voicemail", SYSTEM, f"Sent to voicemail: {reason}")
    return Change(nxt, "interaction.channel_switched", {"from": f"{ix.type.value}/{ix.subtype.value}", "to": "voicemail/voicemail", "reason": reason})


def attach_transcript(ix: Interaction, *, transcript: Transcript, now: datetime) -> Change:
    if any(t.id == transcript.id for t in ix.transcripts):
        raise IllegalTransition(f"Transcript {transcript.id} is already attached to interaction {ix.id}.")
    nxt = _next(ix)
    nxt.transcripts.append(transcript)
    _log(nxt, now, "transcript_attached", SYSTEM, "Transcript attached", transcript_id=transcript.id)
    return Change(nxt, "interaction.transcript_attached", {"transcript_id": transcript.id})


# -- ending ------------------------------------------------------------------


def end(ix: Interaction, *, actor: User, outcome: Outcome, now: datetime) -> Change:
    """Resolved goes to wrap-up; unresolved goes back to the queue for someone else."""
    _require(ix, actor, "end", Status.CLAIMED, handler=True)
    _require_no_consult(ix, "end")
    nxt = _next(ix)
    nxt.outcome = outcome
    if outcome is Outcome.RESOLVED:
        nxt.status = Status.WRAP_UP
        nxt.wrap_up_at = now
        ended = disconnect.as_data(disconnect.ended_by_agent(ix, nxt, DisconnectReason.HANG_UP, now))
        _log(nxt, now, "ended", actor.id, f"Ended as resolved by {actor.name}; wrap-up started", outcome=outcome.value, **ended)
    else:
        ended = disconnect.as_data(None)  # the customer holds (or waits) for the next agent
        _to_queue(nxt)
        _log(nxt, now, "ended", actor.id, f"Ended as unresolved by {actor.name}; back in queue {ix.queue_id}", outcome=outcome.value)
    return Change(nxt, "interaction.ended", {"outcome": outcome.value, **ended})


def _completed(ix: Interaction, by: str, now: datetime) -> Interaction:
    nxt = _next(ix)
    nxt.state = State.COMPLETED
    nxt.status = Status.COMPLETED
    nxt.completed_at = now
    nxt.completed_by = by
    return nxt


def complete(ix: Interaction, *, actor: User, now: datetime) -> Change:
    _require(ix, actor, "complete", Status.WRAP_UP, handler=True)
    nxt = _completed(ix, actor.id, now)
    _log(nxt, now, "completed", actor.id, f"Completed by {actor.name}")
    return Change(nxt, "interaction.completed", {"auto": False, **disconnect.as_data(ix.disconnect)})


def wrap_up_deadline(ix: Interaction, queue: Queue) -> datetime | None:
    """When the queue completes this interaction by itself, if it does."""
    if ix.status is not Status.WRAP_UP or not queue.settings.auto_complete or ix.wrap_up_at is None:
        return None
    return ix.wrap_up_at + timedelta(seconds=queue.settings.wrap_up_limit)


def auto_complete(ix: Interaction, *, queue: Queue, now: datetime) -> Change:
    """Completes a wrap-up whose limit passed; completed_by stays the agent who wrapped it up."""
    _require(ix, None, "auto-complete", Status.WRAP_UP)
    deadline = wrap_up_deadline(ix, queue)
    if deadline is None or now < deadline:
        raise IllegalTransition(f"Interaction {ix.id} is still within its wrap-up time.")
    nxt = _completed(ix, ix.assigned_to or SYSTEM, now)
    nxt.auto_completed = True
    _log(nxt, now, "completed", SYSTEM, f"Completed automatically after the {queue.settings.wrap_up_limit}s wrap-up limit")
    return Change(nxt, "interaction.completed", {"auto": True, **disconnect.as_data(ix.disconnect)})


def abandon(ix: Interaction, *, now: datetime) -> Change:
    """The customer gave up while waiting (hung up, left the chat): it completes unanswered."""
    _require(ix, None, "abandon", Status.OPEN, Status.PENDING)
    nxt = _completed(ix, CUSTOMER, now)
    nxt.offered_to = None
    nxt.offer_expires_at = None
    nxt.abandoned_at = now
    nxt.disconnect = disconnect.record(ix, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP, now)
    waited = (now - ix.created_at).total_seconds()
    _log(nxt, now, "abandoned", CUSTOMER, f"The customer left after waiting {waited:.0f}s", waited_seconds=waited)
    return Change(nxt, "interaction.abandoned", {"waited_seconds": waited, **disconnect.as_data(nxt.disconnect)})


# -- after completion --------------------------------------------------------


def edit(ix: Interaction, *, actor: User, changes: dict[str, Any], now: datetime) -> Change:
    """Applies a JSON Merge Patch (RFC 7396) to the editable fields (customer, tags, subject, disposition), with an audit entry.

    Who completed it, when, and the activity feed are the record of what
    happened; they are refused by name so the person learns why.
    """
    require_access(ix, actor)
    if not changes:
        raise InvalidCommand("Nothing to edit: name at least one of " + ", ".join(sorted(EDITABLE_AFTER_COMPLETION)) + ".")
    frozen = sorted(FROZEN_AFTER_COMPLETION.intersection(changes))
    if frozen:
        raise FieldNotEditable(f"{', '.join(frozen)} cannot be edited: who completed an interaction, when, and its activity feed are permanent.")
    unknown = sorted(set(changes) - EDITABLE_AFTER_COMPLETION)
    if unknown:
        raise FieldNotEditable(f"{', '.join(unknown)} cannot be edited; editable fields are {', '.join(sorted(EDITABLE_AFTER_COMPLETION))}.")
    try:
        candidate = Interaction.model_validate(merge_patch(ix.model_dump(mode="json"), changes))
    except ValidationError as exc:
        raise InvalidCommand(f"Invalid value: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    nxt = _next(ix)
    changed: dict[str, Any] = {}
    for name in changes:
        value = getattr(candidate, name)
        if name == "tags":
            value = list(dict.fromkeys(value))
        if getattr(ix, name) != value:
            setattr(nxt, name, value)
            changed[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    if not changed:
        raise InvalidCommand("The edit changes nothing.")
    _log(nxt, now, "edited", actor.id, f"Edited by {actor.name}: {', '.join(sorted(changed))}", changes=changed)
    return Change(nxt, "interaction.edited", {"fields": sorted(changed)})
