"""Which channels can reach a customer, and why not: the one rule behind switching, cloning and outbound contacts.

A channel change or a follow-up is a promise to the customer ("we'll continue
by text message", "we'll call you").  It is only made when the channel can
keep it: a text or a phone call needs the customer's phone number and a
number of ours to send or call from; a chat needs the customer's chat widget,
which only a conversation that began as (or became) a web chat has; a web
call is started by the customer from that widget, never by an agent.
Everything here is a pure function of facts the caller gathers
(:class:`Contact`), so a refusal (``InvalidCommand``, 422) happens before
anything is stored or sent, and says what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import InvalidCommand
from .model import CommType, Interaction, Subtype
from .queues import Queue

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

Channel = tuple[CommType, Subtype]
TEXT: Channel = (CommType.MESSAGING, Subtype.TEXT)
CHAT: Channel = (CommType.MESSAGING, Subtype.CHAT)
PHONE: Channel = (CommType.CALL, Subtype.PHONE)
WEB_CALL: Channel = (CommType.CALL, Subtype.WEBRTC)
#: Channels that go through the provider from one of our numbers to the customer's phone.
BY_PHONE: frozenset[Channel] = frozenset({TEXT, PHONE})
#: Every channel an agent might ask for, in the order people read them.
CHANNELS: tuple[Channel, ...] = (
    PHONE,
    WEB_CALL,
    TEXT,
    CHAT,
    (CommType.VOICEMAIL, Subtype.VOICEMAIL),
    (CommType.EMAIL, Subtype.EMAIL),
)


@dataclass(frozen=True)
class Contact:
    """What is known about reaching one customer from one queue (facts, not a decision)."""

    queue_id: str
    #: The customer's phone number as given (checked here, not trusted).
    phone: str | None
    #: Ours: the number the customer contacted, if it is a phone number, else the queue's.
    number: str | None
    #: Whether the customer's chat widget follows the conversation.
    chat: bool = False


def our_number(to_address: str | None, queue: Queue) -> str | None:
    """The number we text or call from: the one the customer already knows (they contacted it), else the queue's."""
    if to_address and E164.match(to_address):
        return to_address
    return queue.settings.phone_number


def contact_of(ix: Interaction, queue: Queue, *, chat: bool) -> Contact:
    """The facts for an interaction of ``queue``; ``chat``: whether its customer's widget follows it."""
    return Contact(queue_id=queue.id, phone=ix.customer.phone, number=our_number(ix.to_address, queue), chat=chat)


def label(channel: Channel) -> str:
    return {TEXT: "text message", CHAT: "web chat", PHONE: "phone call", WEB_CALL: "web call"}.get(
        channel, f"{channel[0].value}/{channel[1].value}"
    )


def why_not(contact: Contact, type: CommType, subtype: Subtype) -> str | None:
    """Why this channel cannot reach the customer, or None when it can."""
    channel = (type, subtype)
    if channel in BY_PHONE:
        verb = "text" if channel == TEXT else "call"
        if not contact.phone:
            return f"the customer has no phone number to {verb}; add one to the customer first"
        if not E164.match(contact.phone):
            return f"the customer's phone number {contact.phone!r} is not in E.164 form (e.g. +14155550100)"
        if not contact.number:
            return (
                f"queue {contact.queue_id} has no phone number to {verb} from; an admin sets it in the queue's settings"
            )
        return None
    if channel == CHAT:
        if not contact.chat:
            return "no chat widget is attached: only a customer who started a web chat can be reached by chat"
        return None
    if channel == WEB_CALL:
        return "a web call is started by the customer from the chat widget; call their phone instead"
    if type is CommType.VOICEMAIL:
        return "voicemail is only ever left by a caller"
    return f"no channel delivers {type.value} yet"


def reachable(contact: Contact) -> list[Channel]:
    """Every channel that can reach this customer now."""
    return [c for c in CHANNELS if why_not(contact, *c) is None]


def require(contact: Contact, type: CommType, subtype: Subtype, action: str) -> None:
    """Refuses (422) ``action`` ("switch interaction X to text message")
    when the channel cannot reach the customer, saying why."""
    reason = why_not(contact, type, subtype)
    if reason is not None:
        raise InvalidCommand(f"Cannot {action}: {reason}.")


def follow_up(parent: Interaction, contact: Contact) -> Channel:
    """The channel of a clone of ``parent``, which must reach the customer (else 422 with the reason).

    Calls and voicemails are called back; texts are texted; a chat is followed
    up by text, since a new interaction has no chat widget to appear in.
    """
    if parent.type in (CommType.CALL, CommType.VOICEMAIL):
        channel = PHONE
    elif parent.type is CommType.MESSAGING:
        channel = TEXT
    else:
        channel = (parent.type, parent.subtype)
    require(replace(contact, chat=False), *channel, f"follow up interaction {parent.id} by {label(channel)}")
    return channel


def require_outbound(type: CommType, subtype: Subtype) -> None:
    """An outbound contact starts on a channel an agent can open: a phone call or a text.

    A chat or a web call never can: no customer's widget belongs to a new interaction.  A text or a
    call is accepted without a phone number (one may be added to the customer before the first text;
    a call that cannot be placed keeps the reason in its feed), as it always was.
    """
    if (type, subtype) in (CHAT, WEB_CALL):
        reason = why_not(Contact(queue_id="", phone=None, number=None, chat=False), type, subtype)
        raise InvalidCommand(
            f"An outbound {label((type, subtype))} would reach nobody: {reason}. Start a phone call or a text instead."
        )


def require_outside(ix: Interaction) -> None:
    """Only a call (moved by the provider or the bridge) or a text can be handed to an outside number;
    a chat would silently drop the customer."""
    if ix.type is not CommType.CALL and (ix.type, ix.subtype) != TEXT:
        raise InvalidCommand(
            "Only calls and texts can go to an outside number; "
            f"interaction {ix.id} is a {label((ix.type, ix.subtype))}: "
            "switch it to a phone call or a text first, or transfer it to a user or a queue."
        )
