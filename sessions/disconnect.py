"""Disconnects: who ended a contact and why, and what that does to the interaction.

Flex and Amazon Connect move an agent into wrap-up (after-contact work) the
moment the customer hangs up; a contact that stays "claimed" with nobody on
the other end wastes the agent's time and hides what happened.  The rules:

* the customer (or the provider: busy, no answer, failed) ends a *waiting*
  contact: it is abandoned, as before, now with the disconnect recorded;
* they end a *claimed* one: it goes to wrap-up at once, unless the queue's
  ``wrap_up_on_disconnect`` is off, in which case it stays claimed with the
  agent (who is told) and only the disconnect is recorded;
* an interaction already in wrap-up keeps the disconnect it has (the agent's
  own end hangs the call up, and that hang-up reports back here).

Pure functions of the interaction, the facts and ``now``, like the machine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import machine  # machine imports this module too: names from it are looked up at call time
from .errors import IllegalTransition
from .model import CommType, Disconnect, DisconnectBy, DisconnectReason, Interaction, Queue, Status, Subtype

#: Twilio's final call statuses, as a disconnect.  ``canceled`` is the gateway's own REST hang-up of a ringing call.
CALL_STATUS: dict[str, tuple[DisconnectBy, DisconnectReason]] = {
    "completed": (DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP),
    "busy": (DisconnectBy.PROVIDER, DisconnectReason.BUSY),
    "no-answer": (DisconnectBy.PROVIDER, DisconnectReason.NO_ANSWER),
    "failed": (DisconnectBy.PROVIDER, DisconnectReason.FAILED),
    "canceled": (DisconnectBy.SYSTEM, DisconnectReason.HANG_UP),
}

_WHAT = {
    DisconnectReason.HANG_UP: "hung up",
    DisconnectReason.NO_ANSWER: "no answer",
    DisconnectReason.BUSY: "the line was busy",
    DisconnectReason.FAILED: "the call failed",
    DisconnectReason.TRANSFERRED: "transferred out",
    DisconnectReason.NETWORK_DROP: "the connection dropped",
}


def record(ix: Interaction, by: DisconnectBy, reason: DisconnectReason, now: datetime) -> Disconnect:
    """A disconnect of the interaction's current channel."""
    return Disconnect(by=by, reason=reason, at=now, channel=ix.subtype)


def as_data(d: Disconnect | None) -> dict[str, Any]:
    """The ``disconnect`` entry of an event's data (None when the contact goes on)."""
    return {"disconnect": d.model_dump(mode="json") if d else None}


def describe(d: Disconnect) -> str:
    """The feed's wording: "The customer left the chat", "Provider: the line was busy"."""
    if d.by is DisconnectBy.CUSTOMER and d.reason is DisconnectReason.HANG_UP:
        return "The customer left the chat" if d.channel is Subtype.CHAT else "The customer hung up"
    return f"{d.by.value.capitalize()}: {_WHAT[d.reason]}"


def ended_by_agent(ix: Interaction, nxt: Interaction, reason: DisconnectReason, now: datetime) -> Disconnect:
    """The agent ends the contact (end as resolved, external transfer); a customer who left first stays the one who left."""
    current = ix.disconnect if ix.disconnect is not None and ix.disconnect.channel is ix.subtype else None
    nxt.disconnect = current or record(ix, DisconnectBy.AGENT, reason, now)
    return nxt.disconnect


def require_reachable(ix: Interaction) -> None:
    """An agent's reply needs someone there: a chat whose customer left is gone (a text can still be sent)."""
    d = ix.disconnect
    if ix.subtype is Subtype.CHAT and d is not None and d.channel is Subtype.CHAT:
        who = "The customer left" if d.by is DisconnectBy.CUSTOMER else "This chat was ended"
        raise IllegalTransition(f"{who}: the chat of interaction {ix.id} is closed and nobody would read the message. "
                                "Switch it to text to reach the customer by SMS.")


def disconnected(ix: Interaction, *, queue: Queue, by: DisconnectBy, reason: DisconnectReason, now: datetime) -> machine.Change:
    """The other end of the contact went away (customer hang-up, left the chat; provider busy, no answer, failed).

    Raises IllegalTransition when there is nothing to change: already in wrap-up or completed.
    """
    if queue.id != ix.queue_id:
        raise IllegalTransition(f"Interaction {ix.id} is in queue {ix.queue_id}, not {queue.id}.")
    d = record(ix, by, reason, now)
    if ix.status in (Status.OPEN, Status.PENDING):
        change = machine.abandon(ix, now=now)
        change.interaction.disconnect = d
        change.interaction.activity[-1].data.update(as_data(d))
        return machine.Change(change.interaction, change.type, {**change.data, **as_data(d)})
    if ix.status is not Status.CLAIMED:
        raise IllegalTransition(f"Interaction {ix.id} is {ix.status.value}: the disconnect changes nothing.")
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    nxt.disconnect = d
    who = machine.CUSTOMER if by is DisconnectBy.CUSTOMER else by.value
    if queue.settings.wrap_up_on_disconnect:
        nxt.status = Status.WRAP_UP
        nxt.wrap_up_at = now
        nxt.consult = None
        machine._log(nxt, now, "ended", who, f"{describe(d)}; wrap-up started", **as_data(d))
        return machine.Change(nxt, "interaction.ended", {"outcome": None, **as_data(d)})
    machine._log(nxt, now, "disconnected", who, f"{describe(d)}; still claimed by {ix.assigned_to}", **as_data(d))
    return machine.Change(nxt, "interaction.disconnected", as_data(d))


def chat_left(ix: Interaction, *, queue: Queue, now: datetime) -> machine.Change:
    """The customer closed the chat widget: the contact ends only while the widget is how they are talking
    (a chat, or a call from the widget); a conversation that went on by text or phone is untouched."""
    if ix.subtype not in (Subtype.CHAT, Subtype.WEBRTC):
        raise IllegalTransition(f"Interaction {ix.id} went on as {ix.type.value}/{ix.subtype.value}: closing the chat leaves it be.")
    return disconnected(ix, queue=queue, by=DisconnectBy.CUSTOMER, reason=DisconnectReason.HANG_UP, now=now)


def call_ended(ix: Interaction, *, queue: Queue, status: str, now: datetime) -> machine.Change:
    """A Twilio final call status for the interaction's call; a call already continued by text or chat is untouched."""
    if status not in CALL_STATUS:
        raise IllegalTransition(f"Call status {status!r} does not end the call.")
    if ix.type is not CommType.CALL:
        raise IllegalTransition(f"Interaction {ix.id} went on as {ix.type.value}: the call ending leaves it be.")
    by, reason = CALL_STATUS[status]
    return disconnected(ix, queue=queue, by=by, reason=reason, now=now)
