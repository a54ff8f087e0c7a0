"""The I/O half of the chat widget's protocol: performs what a :class:`~channels.chat.ChatSession` decides.

The session never awaits; this driver does the store reads and service commands its actions ask for and feeds each
outcome back, so the socket endpoint (``gateway/ws_chat.py``) only moves frames and events.
"""

from __future__ import annotations

from typing import Any

from sessions import Sessions
from sessions.errors import DomainError, IllegalTransition
from sessions.events import Event
from sessions.model import CommType, Direction, Interaction, Subtype
from sessions.tokens import token_digest

from .chat import Action, ChatSession, Leave, MarkRead, Reply, Resume, Send, Start, Typing, WidgetFrame
from .threads import Threads


async def interaction_of(threads: Threads, token: str) -> str | None:
    """The interaction a chat session token belongs to (the widget's socket and its web calls both use it)."""
    return await threads.interaction_of_chat(token_digest(token))


class ChatDriver:
    """One widget connection: client frames and the interaction's events in, frames to send out."""

    def __init__(self, sessions: Sessions, threads: Threads) -> None:
        self.sessions, self.threads = sessions, threads
        self.session = ChatSession()

    @property
    def interaction_id(self) -> str | None:
        return self.session.interaction_id

    async def receive(self, raw: Any) -> list[WidgetFrame]:
        """Performs the actions of one client frame in order; the first refusal ends them with an error frame."""
        out: list[WidgetFrame] = []
        for action in self.session.receive(raw):
            try:
                out += await self._perform(action)
            except DomainError as exc:
                return out + self.session.refused(exc)
        return out

    async def on_event(self, event: Event) -> list[WidgetFrame]:
        if event.interaction is not None:
            await self._learn_names(event.interaction)
        return self.session.on_event(event)

    async def catch_up(self) -> list[WidgetFrame]:
        """What the agent wrote since the session frame (call once the interaction's events are followed)."""
        assert self.session.interaction_id is not None
        ix = await self.sessions.interaction(self.session.interaction_id)
        await self._learn_names(ix)
        return self.session.catch_up(ix)

    async def _perform(self, action: Action) -> list[WidgetFrame]:
        match action:
            case Reply(frames):
                return frames
            case Start():
                return await self._start(action)
            case Resume(token):
                ix_id = await interaction_of(self.threads, token)
                ix = await self.sessions.interaction(ix_id) if ix_id is not None else None
                if ix is not None:
                    await self._learn_names(ix)
                return self.session.resumed(ix, action)
            case Send():
                return await self._send(action)
            case Typing(ix_id, active):
                await self.sessions.signal(ix_id, "chat.typing", {"from": "customer", "active": active})
            case MarkRead(ix_id):
                try:
                    await self.sessions.mark_read(None, ix_id)
                except IllegalTransition:
                    pass  # nothing unread
            case Leave(ix_id):
                try:
                    # Waiting: an abandon; with an agent: wrap-up (or kept claimed, per the queue), the agent told
                    # the customer left.
                    await self.sessions.chat_left(ix_id)
                except IllegalTransition:
                    pass  # already ended by the agent, completed, or gone on by text or phone
        return []

    async def _start(self, start: Start) -> list[WidgetFrame]:
        event = await self.sessions.route_inbound(
            type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=start.customer, first_message=start.topic
        )
        ix = event.interaction
        assert ix is not None
        if start.topic is not None:
            ix = (await self._add(ix.id, start.topic, None)).interaction
            assert ix is not None
        await self.threads.link_chat(token_digest(start.token), ix.id)
        await self._learn_names(ix)
        return self.session.started(ix, start.token)

    async def _send(self, send: Send) -> list[WidgetFrame]:
        try:
            event = await self._add(send.interaction_id, send.body, send.message_id)
        except IllegalTransition as exc:
            return self.session.not_stored(send, await self.sessions.interaction(send.interaction_id), exc)
        assert event.interaction is not None
        return self.session.stored(send, event.interaction.messages[-1])

    async def _add(self, ix_id: str, body: str, message_id: str | None) -> Event:
        """The customer's message, delivered (the widget is the customer's own screen)."""
        return await self.sessions.add_message(
            None,
            ix_id,
            direction=Direction.INBOUND,
            body=body,
            channel=Subtype.CHAT,
            status="delivered",
            message_id=message_id,
        )

    async def _learn_names(self, ix: Interaction) -> None:
        for user_id in self.session.unnamed(ix):
            try:
                name: str | None = (await self.sessions.user(user_id)).name
            except DomainError:
                name = None
            self.session.named(user_id, name)
