"""The customer chat widget's protocol, sans-I/O: data in, decisions and frames out, never an await.

Like python-websockets' ``protocol.py``, :class:`ChatSession` owns no socket and no store. A widget frame goes in
through :meth:`ChatSession.receive`, which answers with *actions*: frames to send back (:class:`Reply`) or a command
for the core (:class:`Start`, :class:`Resume`, :class:`Send`, ...). ``channels.chat_driver`` performs the commands
and feeds each outcome back (:meth:`~ChatSession.started`, :meth:`~ChatSession.resumed`, :meth:`~ChatSession.stored`,
...), which return the frames to send. Committed events of the interaction go in through
:meth:`~ChatSession.on_event`. So the whole protocol is tested with plain values, without a store or a socket.

Client frames::

    {"type": "start", "name": str, "email": str, "topic"?: str, "phone"?: str, "attributes"?: {str: str}}
    {"type": "resume", "token": str, "after"?: message id}
    {"type": "message", "body": str, "client_id"?: str}
    {"type": "typing", "active": bool}
    {"type": "read"}
    {"type": "end"}

Server frames: ``session`` (token, interaction id, history), ``message``,
``ack`` (a customer message stored: delivered), ``receipt`` (read),
``typing``, ``agent_joined``, ``agent_left``, ``channel`` (the
conversation moved to text or a call), ``ended``, and ``error`` (code,
detail) for anything refused; an error never closes the connection.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sessions.errors import DomainError
from sessions.events import Event, EventType
from sessions.model import Customer, CustomerAttributes, Direction, Interaction, Message, Outcome, State, Status
from sessions.text import clean_text

#: The widget's own limit (its text box stops there): a longer frame is refused with an error frame the customer
#: sees at once, unlike a provider's webhook, which must never be refused for what the customer wrote.
MAX_BODY = 4_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UNKNOWN_SESSION = "This chat session is unknown or has expired; start a new chat."
#: Events after which the widget hears that its agent went away (transferred on, declined, ended unresolved).
AGENT_LEFT = {EventType.TRANSFERRED, EventType.OFFER_DECLINED}

WidgetFrame = dict[str, Any]


class ChatError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StartFrame(Frame):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    topic: str | None = Field(None, max_length=500)
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")
    #: What the page knows of the customer (plan, tier, language...): the customer's attributes, which routing
    #: rules match.
    attributes: CustomerAttributes = Field(default_factory=dict)


class ResumeFrame(Frame):
    token: str = Field(min_length=10, max_length=200)
    after: str | None = Field(None, max_length=100)


class MessageFrame(Frame):
    body: str = Field(min_length=1)
    client_id: str | None = Field(None, max_length=100)


class TypingFrame(Frame):
    active: bool


@dataclass
class RateLimit:
    """A token bucket: ``burst`` frames at once, refilled at ``rate`` per second."""

    rate: float = 2.0
    burst: float = 8.0
    tokens: float = 8.0
    stamp: float = field(default_factory=time.monotonic)

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def message_frame(m: Message, agent_names: dict[str, str]) -> WidgetFrame:
    mine = m.direction is Direction.INBOUND
    return {
        "type": "message",
        "id": m.id,
        "body": m.body,
        "at": m.at.isoformat(),
        "from": "customer" if mine else "agent",
        "name": None if mine else agent_names.get(m.author, "Agent"),
        "status": m.status,
    }


def error_frame(code: str, detail: str) -> WidgetFrame:
    return {"type": "error", "code": code, "detail": detail}


# -- actions: what the driver is asked to do -----------------------------------


@dataclass(frozen=True)
class Reply:
    """Send these frames to the widget."""

    frames: list[WidgetFrame]


@dataclass(frozen=True)
class Start:
    """Open a chat for this customer (routed like any inbound contact), ``topic`` its first message if any,
    reachable again with ``token``; then call :meth:`ChatSession.started`."""

    customer: Customer
    topic: str | None
    token: str


@dataclass(frozen=True)
class Resume:
    """Find the chat of ``token``; then call :meth:`ChatSession.resumed` with it (or None)."""

    token: str
    after: str | None


@dataclass(frozen=True)
class Send:
    """Store the customer's message; then :meth:`ChatSession.stored`, or :meth:`ChatSession.not_stored` with the
    interaction as read after the refusal. ``message_id`` is set for a message the widget may resend."""

    interaction_id: str
    body: str
    client_id: str | None
    message_id: str | None


@dataclass(frozen=True)
class Typing:
    """Tell the agent whether the customer is typing."""

    interaction_id: str
    active: bool


@dataclass(frozen=True)
class MarkRead:
    """The customer read the agent's messages; nothing unread is no error."""

    interaction_id: str


@dataclass(frozen=True)
class Leave:
    """The customer closed the chat; a chat that already ended (or went on by text or phone) is no error."""

    interaction_id: str


Action = Reply | Start | Resume | Send | Typing | MarkRead | Leave


@dataclass
class ChatSession:
    """One widget connection's protocol state."""

    interaction_id: str | None = None
    #: Messages already sent to this widget: nothing is sent twice on one connection.
    sent: set[str] = field(default_factory=set)
    limit: RateLimit = field(default_factory=RateLimit)
    #: Display names of the agents in this chat, as the driver looked them up (see :meth:`unnamed`).
    names: dict[str, str] = field(default_factory=dict)
    #: The widget has been told the chat ended: it is told once, not again for every later event (a note, the
    #: completion).
    ended: bool = False

    # -- client frames ---------------------------------------------------------

    def receive(self, raw: Any, now: float | None = None) -> list[Action]:
        """One client frame in (``now``: the rate limit's clock, monotonic seconds), the actions it asks for out;
        refusals are error frames."""
        try:
            return self._receive(raw, now)
        except ValidationError as exc:
            err = exc.errors()[0]
            return [Reply([error_frame("invalid", f"{'.'.join(str(p) for p in err['loc']) or 'frame'}: {err['msg']}")])]
        except ChatError as exc:
            return [Reply([error_frame(exc.code, exc.detail)])]

    def _receive(self, raw: Any, now: float | None) -> list[Action]:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise ChatError("malformed", 'Frames are JSON objects with a "type".')
        if not self.limit.allow(now):
            raise ChatError("rate_limited", "Too many messages at once; wait a moment and send again.")
        kind = raw["type"]
        if kind == "start":
            return [self._start(StartFrame.model_validate(raw))]
        if kind == "resume":
            frame = ResumeFrame.model_validate(raw)
            return [Resume(frame.token, frame.after)]
        if self.interaction_id is None:
            raise ChatError("no_session", "Start or resume a chat first.")
        if kind == "message":
            return [self._message(self.interaction_id, MessageFrame.model_validate(raw))]
        if kind == "typing":
            return [Typing(self.interaction_id, TypingFrame.model_validate(raw).active)]
        if kind == "read":
            return [MarkRead(self.interaction_id)]
        if kind == "end":
            ended = self._ended("customer")
            return [Leave(self.interaction_id)] + ([Reply(ended)] if ended else [])
        raise ChatError("unknown_type", f"Unknown frame type {kind!r}.")

    def _start(self, frame: StartFrame) -> Start:
        if self.interaction_id is not None:
            raise ChatError("already_started", "This connection already has a chat.")
        if not EMAIL.match(frame.email):
            raise ChatError("invalid", "email: not an email address")
        topic = clean_text(frame.topic or "")
        customer = Customer(
            name=frame.name,
            email=frame.email,
            phone=frame.phone,
            attributes={k: clean_text(v) for k, v in frame.attributes.items()},
        )
        return Start(customer, topic if topic.strip() else None, secrets.token_urlsafe(24))

    @staticmethod
    def _message(interaction_id: str, frame: MessageFrame) -> Send:
        if len(frame.body) > MAX_BODY:
            raise ChatError("too_large", f"Messages are limited to {MAX_BODY} characters.")
        if not clean_text(frame.body).strip():
            raise ChatError("invalid", "body: the message has no text.")
        message_id = None
        if frame.client_id:
            # A resend after a drop carries the same client id: it is stored once.
            message_id = hashlib.sha256(f"{interaction_id}:{frame.client_id}".encode()).hexdigest()[:32]
        return Send(interaction_id, frame.body, frame.client_id, message_id)

    def _ended(self, by: str) -> list[WidgetFrame]:
        """The "ended" frame, the first time only."""
        if self.ended:
            return []
        self.ended = True
        return [{"type": "ended", "by": by}]

    # -- outcomes of the driver's commands -------------------------------------

    def started(self, ix: Interaction, token: str) -> list[WidgetFrame]:
        """The chat :class:`Start` opened."""
        return [self._session_frame(ix, token, None)]

    def resumed(self, ix: Interaction | None, resume: Resume) -> list[WidgetFrame]:
        """The chat a :class:`Resume` token belongs to, None for an unknown token."""
        if ix is None:
            return [error_frame("unknown_session", UNKNOWN_SESSION)]
        return [self._session_frame(ix, resume.token, resume.after)]

    def stored(self, send: Send, message: Message) -> list[WidgetFrame]:
        """The message of :class:`Send` is stored: the widget's ack."""
        self.sent.add(message.id)
        return [
            {
                "type": "ack",
                "client_id": send.client_id,
                "id": message.id,
                "status": "delivered",
                "at": message.at.isoformat(),
            }
        ]

    def not_stored(self, send: Send, ix: Interaction, error: DomainError) -> list[WidgetFrame]:
        """The core refused the message of :class:`Send`; ``ix`` is the interaction as read after that."""
        if ix.state is State.COMPLETED:
            return [error_frame("ended", "This chat has ended; start a new one.")]
        resent = next((m for m in ix.messages if send.message_id is not None and m.id == send.message_id), None)
        if resent is not None:
            return self.stored(send, resent)  # a resend of a message already stored: acknowledged again
        return self.refused(error)

    @staticmethod
    def refused(error: DomainError) -> list[WidgetFrame]:
        return [error_frame(error.code, error.message)]

    def _session_frame(self, ix: Interaction, token: str, after: str | None) -> WidgetFrame:
        """The session and the history the widget has not seen (all of it, or what follows ``after``)."""
        self.interaction_id = ix.id
        ids = [m.id for m in ix.messages]
        start = ids.index(after) + 1 if after in ids else 0
        history = [message_frame(m, self.names) for m in ix.messages[start:]]
        self.sent.update(ids)
        self.ended = ix.state is State.COMPLETED
        return {
            "type": "session",
            "token": token,
            "interaction_id": ix.id,
            "status": self._status(ix),
            "messages": history,
            "agent": self.names.get(ix.assigned_to or "", None),
            "channel": f"{ix.type.value}/{ix.subtype.value}",
        }

    # -- agents' names ---------------------------------------------------------

    def unnamed(self, ix: Interaction) -> set[str]:
        """Agents of ``ix`` whose names the driver should look up (:meth:`named`) before feeding ``ix`` in:
        names are looked up once per connection."""
        ids = {m.author for m in ix.messages if m.direction is Direction.OUTBOUND}
        ids |= {ix.assigned_to} if ix.assigned_to else set()
        return ids - set(self.names)

    def named(self, user_id: str, name: str | None) -> None:
        """An agent's display name; None for a user who cannot be found."""
        self.names[user_id] = name or "Agent"

    # -- interaction events ----------------------------------------------------

    def on_event(self, event: Event) -> list[WidgetFrame]:
        """Translates an event of this interaction into widget frames, from the event's type and data and the
        interaction it carries (never from its activity feed, which is written for people)."""
        if event.type == EventType.CHAT_TYPING:
            if event.data.get("from") == "agent":
                return [{"type": "typing", "active": bool(event.data.get("active"))}]
            return []
        ix = event.interaction
        if ix is None or ix.id != self.interaction_id:
            return []
        out = self.catch_up(ix)
        if event.type == EventType.MESSAGES_READ and event.data.get("by") != "customer":
            out.append({"type": "receipt", "ids": event.data.get("ids", []), "status": "read"})
        if event.type == EventType.CLAIMED and ix.assigned_to:
            out.append({"type": "agent_joined", "name": self.names.get(ix.assigned_to, "An agent")})
        elif event.type in AGENT_LEFT or (
            event.type == EventType.ENDED and event.data.get("outcome") == Outcome.UNRESOLVED.value
        ):
            # A transfer is a hand-over: the widget tells the customer so, rather than that their agent left.
            out.append(
                {"type": "agent_left", **({"reason": "transferred"} if event.type == EventType.TRANSFERRED else {})}
            )
        if event.type == EventType.CHANNEL_SWITCHED:
            out.append(
                {"type": "channel", "channel": f"{ix.type.value}/{ix.subtype.value}", "phone": ix.customer.phone}
            )
        if ix.state is State.COMPLETED or ix.status is Status.WRAP_UP:
            out.extend(self._ended(ix.disconnect.by.value if ix.disconnect else "agent"))
        return out

    def catch_up(self, ix: Interaction) -> list[WidgetFrame]:
        """The agent's messages in ``ix`` this widget has not been sent yet (e.g. stored between the session frame
        and the subscription)."""
        out = []
        for m in ix.messages:
            if m.id not in self.sent and m.direction is Direction.OUTBOUND:
                self.sent.add(m.id)
                out.append(message_frame(m, self.names))
        return out

    @staticmethod
    def _status(ix: Interaction) -> str:
        if ix.state is State.COMPLETED:
            return "ended"
        return "with_agent" if ix.status in (Status.CLAIMED, Status.WRAP_UP) else "waiting"
