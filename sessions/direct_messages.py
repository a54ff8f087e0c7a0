"""Direct messages between users: the rules, free of any store or web framework.

The seed: "If you already have a direct message with the user your conversation will continue in
that thread".  So there is exactly one thread per pair of users, and its id is a function of the
pair alone (:func:`thread_id`): whichever side writes first, and however many processes race to
write the first message, they name the same thread.

Who may write to whom (:func:`may_message`): two enabled users who share a queue, or any pair in
which one is a supervisor or an admin (a supervisor reaches any agent, and the agent can answer).
A message may be linked to an interaction (the console's "Message the user who completed it") only
by a sender who may see that interaction (:func:`may_link`), so a link never discloses one.

Each message is also an event in the one log (:func:`sent_event`), addressed to the pair alone:
``users=[author, recipient]`` and ``roles=[]``, so :meth:`Event.concerns` gives it to nobody else,
admins included (their unfiltered queue view does not reach past an empty ``roles``).  That is what
delivers it live over ``/ws/agent`` and replays it, exactly once, on a resume with ``since=``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import InvalidCommand, NotFound, PermissionDenied
from .events import Event, EventType
from .model import Interaction, Role, User
from .text import clean_text
from .transitions import require_access

#: A message was written; data: the message (:class:`DirectMessage` as JSON).
#: A member read a thread up to a message; data: ``{"thread_id", "user", "read_through"}``;
#: only that member receives it.
#: The longest message kept, in characters (a longer one is cut, marked, like every text people write).
MAX_BODY = 4_000
#: Messages per page of a thread, by default and at most.
PAGE = 50
MAX_PAGE = 200


class Draft(BaseModel):
    """A message decided on but not yet stored (the store gives it its id)."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str
    author: str
    to: str
    body: str
    at: datetime
    interaction_id: str | None = None

    def stored(self, message_id: int) -> DirectMessage:
        return DirectMessage(id=str(message_id), **self.model_dump())


class DirectMessage(Draft):
    """One message of a thread.  ``id`` is its position in the store (decimal, increasing), the key a page is cut at."""

    id: str


class Correspondent(BaseModel):
    id: str
    name: str


class ThreadSummary(BaseModel):
    """One thread as its member sees it in their list: with whom, the last message, how many they have not read."""

    id: str
    other: Correspondent
    last: DirectMessage | None
    unread: int
    updated_at: datetime


class ThreadPage(BaseModel):
    """Messages of a thread, oldest first;
    ``before`` is the cursor of the next (older) page, None at the start of the thread."""

    thread: ThreadSummary
    messages: list[DirectMessage]
    before: str | None


def thread_id(a: str, b: str) -> str:
    """The one thread of users ``a`` and ``b``, the same whichever of them is named first.

    A digest of the sorted pair (length-prefixed, so no two pairs of ids collide by concatenation):
    fixed length, safe in a URL path whatever characters the ids hold, and computed without a read.
    """
    if a == b:
        raise InvalidCommand("A direct message goes to someone else, not to oneself.")
    lo, hi = sorted((a, b))
    return "dm_" + hashlib.sha256(f"{len(lo)}:{lo}{hi}".encode()).hexdigest()[:32]


def may_message(sender: User, recipient: User) -> None:
    """Raises unless ``sender`` may write to ``recipient``:
    both enabled, and a shared queue or a supervisor or admin between them."""
    if sender.id == recipient.id:
        raise InvalidCommand("A direct message goes to someone else, not to oneself.")
    if sender.disabled:
        raise PermissionDenied(f"{sender.name} is disabled.")
    if recipient.disabled:
        raise PermissionDenied(f"{recipient.name} is disabled and cannot receive messages.")
    staff = (Role.SUPERVISOR, Role.ADMIN)
    if sender.role in staff or recipient.role in staff or set(sender.queues) & set(recipient.queues):
        return
    raise PermissionDenied(
        f"{sender.name} and {recipient.name} share no queue; "
        "agents write to colleagues of their queues, or to a supervisor."
    )


def may_link(interaction: Interaction, sender: User) -> None:
    """Raises unless ``sender`` may see the interaction a message is to be linked to (the same rule as reading it)."""
    require_access(interaction, sender)


def clean_body(body: str) -> str:
    """The body as kept: cleaned like all text people write, at most :data:`MAX_BODY`; nothing but blanks is refused."""
    cleaned = clean_text(body, MAX_BODY)
    if not cleaned.strip():
        raise InvalidCommand("A direct message needs some text.")
    return cleaned


def compose(sender: User, recipient: User, body: str, now: datetime, interaction: Interaction | None = None) -> Draft:
    """The message ``sender`` writes to ``recipient``, in their one thread; raises if it may not be written."""
    may_message(sender, recipient)
    if interaction is not None:
        may_link(interaction, sender)
    return Draft(
        thread_id=thread_id(sender.id, recipient.id),
        author=sender.id,
        to=recipient.id,
        body=clean_body(body),
        at=now,
        interaction_id=interaction.id if interaction else None,
    )


def require_member(members: tuple[str, str] | None, user: User, thread: str) -> None:
    """Raises NotFound unless ``user`` is one of the thread's two members.

    The same answer whether the thread exists or not: to anyone else, a thread is not there (admins included).
    """
    if members is None or user.id not in members:
        raise NotFound(f"No direct-message thread {thread[:80]} of yours.")


def page_size(limit: int | None) -> int:
    if limit is None:
        return PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidCommand(f"limit must be between 1 and {MAX_PAGE}.")
    return limit


def before_key(before: str | None) -> int | None:
    """The message id a page ends before; a cursor that is not one is refused (422), never a 500."""
    if before is None:
        return None
    if not before.isascii() or not before.isdigit() or len(before) > 18:
        raise InvalidCommand(
            f"before must be the id of a message, as a previous page's 'before' gives it; not {before[:40]!r}."
        )
    return int(before)


def sent_event(message: DirectMessage) -> Event:
    """The log's record of a message: for its two members only (``roles=[]`` keeps every other subscriber out)."""
    return Event(
        type=EventType.DIRECT_MESSAGE_SENT,
        at=message.at,
        users=[message.author, message.to],
        roles=[],
        data=message.model_dump(mode="json"),
    )


def read_event(thread: str, reader: str, through: int, at: datetime) -> Event:
    """A member read their thread up to ``through``: only their own consoles (other tabs' badges) hear of it."""
    data: dict[str, Any] = {"thread_id": thread, "user": reader, "read_through": str(through)}
    return Event(type=EventType.DIRECT_MESSAGE_READ, at=at, users=[reader], roles=[], data=data)
