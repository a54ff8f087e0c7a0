"""The customer chat widget's protocol, as a sans-I/O session.

The websocket endpoint feeds it client frames (``handle``) and the
interaction's events (``on_event``) and sends whatever frames they return;
nothing here touches a socket, so the protocol is tested without one.

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

from sessions import Sessions
from sessions.errors import DomainError, IllegalTransition
from sessions.events import Event
from sessions.model import CommType, Customer, CustomerAttributes, Direction, Interaction, Message, State, Status, Subtype
from sessions.stores import Store
from sessions.text import clean_text

TOKENS = "chat:tokens"
#: The widget's own limit (its text box stops there): a longer frame is refused with an error frame the customer
#: sees at once, unlike a provider's webhook, which must never be refused for what the customer wrote.
MAX_BODY = 4_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Agent activity kinds the widget announces.
JOINED = {"claimed"}
LEFT = {"transferred", "offer_declined"}


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
    #: What the page knows of the customer (plan, tier, language...): the customer's attributes, which routing rules match.
    attributes: CustomerAttributes = Field(default_factory=dict)


class ResumeFrame(Frame):
    token: str = Field(min_length=10, max_length=200)
    after: str | None = Field(None, max_length=100)


class MessageFrame(Frame):
    body: str = Field(min_length=1)
    client_id: str | None = Field(None, max_length=100)


class TypingFrame(Frame):
    active: bool


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


UNKNOWN_SESSION = "This chat session is unknown or has expired; start a new chat."


async def interaction_of(store: Store, token: str) -> str | None:
    """The interaction a chat session token belongs to (the widget's socket and its web calls both use it)."""
    return await store.map_get(TOKENS, token_digest(token))


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


def message_frame(m: Message, agent_names: dict[str, str]) -> dict[str, Any]:
    mine = m.direction is Direction.INBOUND
    return {"type": "message", "id": m.id, "body": m.body, "at": m.at.isoformat(), "from": "customer" if mine else "agent",
            "name": None if mine else agent_names.get(m.author, "Agent"), "status": m.status}


@dataclass
class ChatSession:
    sessions: Sessions
    interaction_id: str | None = None
    #: Messages already sent to this widget: nothing is sent twice on one connection.
    sent: set[str] = field(default_factory=set)
    limit: RateLimit = field(default_factory=RateLimit)
    last: Interaction | None = None
    names: dict[str, str] = field(default_factory=dict)
    #: The widget has been told the chat ended: it is told once, not again for every later event (a note, the completion).
    ended: bool = False

    # -- client frames ---------------------------------------------------------

    async def handle(self, raw: Any) -> list[dict[str, Any]]:
        """One client frame in, the frames to send back out; refusals are error frames."""
        try:
            if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                raise ChatError("malformed", 'Frames are JSON objects with a "type".')
            if not self.limit.allow():
                raise ChatError("rate_limited", "Too many messages at once; wait a moment and send again.")
            kind = raw["type"]
            if kind == "start":
                return await self._start(StartFrame.model_validate(raw))
            if kind == "resume":
                return await self._resume(ResumeFrame.model_validate(raw))
            if self.interaction_id is None:
                raise ChatError("no_session", "Start or resume a chat first.")
            if kind == "message":
                return await self._message(MessageFrame.model_validate(raw))
            if kind == "typing":
                frame = TypingFrame.model_validate(raw)
                await self.sessions.signal(self.interaction_id, "chat.typing", {"from": "customer", "active": frame.active})
                return []
            if kind == "read":
                try:
                    await self.sessions.mark_read(None, self.interaction_id)
                except IllegalTransition:
                    pass  # nothing unread
                return []
            if kind == "end":
                return await self._end()
            raise ChatError("unknown_type", f"Unknown frame type {kind!r}.")
        except ValidationError as exc:
            err = exc.errors()[0]
            return [{"type": "error", "code": "invalid", "detail": f"{'.'.join(str(p) for p in err['loc']) or 'frame'}: {err['msg']}"}]
        except ChatError as exc:
            return [{"type": "error", "code": exc.code, "detail": exc.detail}]
        except DomainError as exc:
            return [{"type": "error", "code": exc.code, "detail": exc.message}]

    async def _start(self, frame: StartFrame) -> list[dict[str, Any]]:
        if self.interaction_id is not None:
            raise ChatError("already_started", "This connection already has a chat.")
        if not EMAIL.match(frame.email):
            raise ChatError("invalid", "email: not an email address")
        topic = clean_text(frame.topic or "")
        event = await self.sessions.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT,
                                                  customer=Customer(name=frame.name, email=frame.email, phone=frame.phone,
                                                                    attributes={k: clean_text(v) for k, v in frame.attributes.items()}),
                                                  first_message=topic or None)
        ix = event.interaction
        assert ix is not None
        if topic.strip():
            ix = (await self.sessions.add_message(None, ix.id, direction=Direction.INBOUND, body=topic, channel=Subtype.CHAT, status="delivered")).interaction
        token = secrets.token_urlsafe(24)
        await self.sessions.store.map_set(TOKENS, token_digest(token), ix.id)  # type: ignore[union-attr]
        self.interaction_id = ix.id  # type: ignore[union-attr]
        return [await self._session_frame(ix, token, None)]  # type: ignore[arg-type]

    async def _resume(self, frame: ResumeFrame) -> list[dict[str, Any]]:
        ix_id = await interaction_of(self.sessions.store, frame.token)
        if ix_id is None:
            raise ChatError("unknown_session", UNKNOWN_SESSION)
        self.interaction_id = ix_id
        ix = await self.sessions.store.get_interaction(ix_id)
        return [await self._session_frame(ix, frame.token, frame.after)]

    async def _session_frame(self, ix: Interaction, token: str, after: str | None) -> dict[str, Any]:
        """The session and the history the widget has not seen (all of it, or what follows ``after``)."""
        ids = [m.id for m in ix.messages]
        start = ids.index(after) + 1 if after in ids else 0
        names = await self._agent_names(ix)
        history = [message_frame(m, names) for m in ix.messages[start:]]
        self.sent.update(ids)
        self.last = ix
        self.ended = ix.state is State.COMPLETED
        return {"type": "session", "token": token, "interaction_id": ix.id, "status": self._status(ix), "messages": history,
                "agent": names.get(ix.assigned_to or "", None), "channel": f"{ix.type.value}/{ix.subtype.value}"}

    async def _message(self, frame: MessageFrame) -> list[dict[str, Any]]:
        assert self.interaction_id is not None
        if len(frame.body) > MAX_BODY:
            raise ChatError("too_large", f"Messages are limited to {MAX_BODY} characters.")
        if not clean_text(frame.body).strip():
            raise ChatError("invalid", "body: the message has no text.")
        message_id = None
        if frame.client_id:
            # A resend after a drop carries the same client id: it is stored once.
            message_id = hashlib.sha256(f"{self.interaction_id}:{frame.client_id}".encode()).hexdigest()[:32]
        ix = await self.sessions.store.get_interaction(self.interaction_id)
        if ix.state is State.COMPLETED:
            raise ChatError("ended", "This chat has ended; start a new one.")
        try:
            event = await self.sessions.add_message(None, self.interaction_id, direction=Direction.INBOUND, body=frame.body, channel=Subtype.CHAT,
                                                    status="delivered", message_id=message_id)
            stored = event.interaction.messages[-1]  # type: ignore[union-attr]
        except IllegalTransition:
            if message_id is None:
                raise
            stored = next(m for m in (await self.sessions.store.get_interaction(self.interaction_id)).messages if m.id == message_id)
        self.sent.add(stored.id)
        return [{"type": "ack", "client_id": frame.client_id, "id": stored.id, "status": "delivered", "at": stored.at.isoformat()}]

    async def _end(self) -> list[dict[str, Any]]:
        assert self.interaction_id is not None
        try:
            # Waiting: an abandon; with an agent: wrap-up (or kept claimed, per the queue), the agent told the customer left.
            await self.sessions.chat_left(self.interaction_id)
        except IllegalTransition:
            pass  # already ended by the agent, completed, or gone on by text or phone
        if self.ended:
            return []
        self.ended = True
        return [{"type": "ended", "by": "customer"}]

    # -- interaction events ----------------------------------------------------

    async def on_event(self, event: Event) -> list[dict[str, Any]]:
        """Translates an event of this interaction into widget frames."""
        if event.type == "chat.typing":
            if event.data.get("from") == "agent":
                return [{"type": "typing", "active": bool(event.data.get("active"))}]
            return []
        ix = event.interaction
        if ix is None or ix.id != self.interaction_id:
            return []
        before, self.last = self.last, ix
        out: list[dict[str, Any]] = []
        names = await self._agent_names(ix)
        for m in ix.messages:
            if m.id not in self.sent and m.direction is Direction.OUTBOUND:
                self.sent.add(m.id)
                out.append(message_frame(m, names))
        if event.type == "interaction.messages_read" and event.data.get("by") != "customer":
            out.append({"type": "receipt", "ids": event.data.get("ids", []), "status": "read"})
        entry = ix.activity[-1] if ix.activity else None
        if entry is not None and (before is None or len(before.activity) < len(ix.activity)):
            if entry.kind in JOINED and ix.assigned_to:
                out.append({"type": "agent_joined", "name": names.get(ix.assigned_to, "An agent")})
            elif entry.kind in LEFT or (entry.kind == "ended" and ix.status is Status.OPEN):
                out.append({"type": "agent_left"})
        if event.type == "interaction.channel_switched":
            out.append({"type": "channel", "channel": f"{ix.type.value}/{ix.subtype.value}", "phone": ix.customer.phone})
        if not self.ended and (ix.state is State.COMPLETED or ix.status is Status.WRAP_UP):
            self.ended = True
            out.append({"type": "ended", "by": ix.disconnect.by.value if ix.disconnect else "agent"})
        return out

    def catch_up(self, ix: Interaction) -> list[dict[str, Any]]:
        """Agent messages stored between the session frame and the subscription, if any."""
        out = []
        for m in ix.messages:
            if m.id not in self.sent and m.direction is Direction.OUTBOUND:
                self.sent.add(m.id)
                out.append(message_frame(m, self.names))
        return out

    async def _agent_names(self, ix: Interaction) -> dict[str, str]:
        """Display names of the agents in this chat (looked up once per connection)."""
        ids = {m.author for m in ix.messages if m.direction is Direction.OUTBOUND} | ({ix.assigned_to} if ix.assigned_to else set())
        for uid in ids - set(self.names):
            try:
                self.names[uid] = (await self.sessions.store.get_user(uid)).name
            except DomainError:
                self.names[uid] = "Agent"
        return self.names

    @staticmethod
    def _status(ix: Interaction) -> str:
        if ix.state is State.COMPLETED:
            return "ended"
        return "with_agent" if ix.status in (Status.CLAIMED, Status.WRAP_UP) else "waiting"
