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

The rule itself is :func:`sessions.machine.customer_left`; this module holds the facts it
uses (what a disconnect is, how it reads in the feed) and the agent's side of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import IllegalTransition
from .model import SUBTYPES, CommType, Disconnect, DisconnectBy, DisconnectReason, Interaction, Subtype


class Leg(StrEnum):
    """Where the customer left from: leaving ends the contact only while it is still on that leg."""

    CALL = "call"  # the phone call (a provider's final call status)
    WIDGET = "widget"  # the chat widget: a chat, or a call placed from the widget


#: The subtypes a contact is on while each leg carries it; one that went on by text or phone is left be.
ON: dict[Leg, frozenset[Subtype]] = {
    Leg.CALL: SUBTYPES[CommType.CALL],
    Leg.WIDGET: frozenset({Subtype.CHAT, Subtype.WEBRTC}),
}

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
    """The agent ends the contact (end as resolved, external transfer);
    a customer who left first stays the one who left."""
    current = ix.disconnect if ix.disconnect is not None and ix.disconnect.channel is ix.subtype else None
    nxt.disconnect = current or record(ix, DisconnectBy.AGENT, reason, now)
    return nxt.disconnect


def require_reachable(ix: Interaction) -> None:
    """An agent's reply needs someone there: a chat whose customer left is gone (a text can still be sent)."""
    d = ix.disconnect
    if ix.subtype is Subtype.CHAT and d is not None and d.channel is Subtype.CHAT:
        who = "The customer left" if d.by is DisconnectBy.CUSTOMER else "This chat was ended"
        raise IllegalTransition(
            f"{who}: the chat of interaction {ix.id} is closed and nobody would read the message. "
            "Switch it to text to reach the customer by SMS."
        )
