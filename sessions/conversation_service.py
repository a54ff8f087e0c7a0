"""The conversation of an interaction as commands of the core: channel switches, messages and their statuses,
notes, reads, typing signals, recordings, transcripts and provider reports.

A mixin of :class:`sessions.service.Sessions` (like :class:`sessions.call_state.CallState`); the rules are in
:mod:`sessions.machine.conversation`.  Text people write is kept as :func:`sessions.text.clean_text` leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import machine
from .clock import Clock
from .events import Change, Event, chat_audience, has_chat
from .model import CommType, Direction, Interaction, Message, Note, Recording, Subtype, Transcript, User
from .stores.base import Store
from .text import clean_text


class Conversation:
    """Relies on ``Sessions._update`` and ``Sessions._with_queue``, its store, clock and ids."""

    store: Store
    clock: Clock
    ids: Callable[[], str]
    _update: Callable  # provided by Sessions
    _with_queue: Callable  # provided by Sessions

    async def switch_channel(self, actor: User | None, interaction_id: str, type: CommType, subtype: Subtype) -> Event:
        return await self._with_queue(
            interaction_id,
            lambda ix, q: machine.switch_channel(
                ix, actor=actor, type=type, subtype=subtype, queue=q, now=self.clock.now()
            ),
        )

    async def add_message(
        self,
        actor: User | None,
        interaction_id: str,
        *,
        direction: Direction,
        body: str,
        channel: Subtype | None = None,
        provider_id: str | None = None,
        status: str | None = None,
        message_id: str | None = None,
    ) -> Event:
        """An agent's reply (actor set, outbound) or a customer's message (actor None, inbound).

        A channel passes ``message_id`` derived from the provider's id, so a
        redelivered message is refused as a duplicate instead of added twice.
        The body is kept as :func:`clean_text` leaves it: never refused for its length or its bytes.
        """
        now = self.clock.now()
        body = clean_text(body)
        author = actor.id if actor else (machine.CUSTOMER if direction is Direction.INBOUND else machine.SYSTEM)
        msg_id = message_id or self.ids()

        def decide(ix: Interaction) -> Change:
            message = Message(
                id=msg_id,
                at=now,
                direction=direction,
                author=author,
                body=body,
                channel=channel or ix.subtype,
                provider_id=provider_id,
                status=status,
            )
            return machine.add_message(ix, message=message, actor=actor, now=now)

        return await self._update(interaction_id, decide)

    async def update_message_status(
        self,
        interaction_id: str,
        message_id: str,
        status: str,
        error_code: str | None = None,
        provider_id: str | None = None,
    ) -> Event:
        return await self._update(
            interaction_id,
            lambda ix: machine.update_message_status(
                ix,
                message_id=message_id,
                status=status,
                error_code=error_code,
                provider_id=provider_id,
                now=self.clock.now(),
            ),
        )

    async def mark_read(self, reader: User | None, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.mark_read(ix, reader=reader, now=self.clock.now()))

    async def signal(self, interaction_id: str, type: str, data: dict[str, Any]) -> Event:
        """An ephemeral, state-free event about an interaction (typing), fanned out like the others."""
        ix = await self.store.get_interaction(interaction_id)
        users = [u for u in (ix.assigned_to, ix.offered_to) if u] + ([chat_audience(ix.id)] if has_chat(ix) else [])
        return await self.store.publish(
            Event(
                type=type,
                at=self.clock.now(),
                queues=[ix.queue_id],
                users=users,
                data={"interaction_id": ix.id, **data},
            )
        )

    async def add_note(self, actor: User, interaction_id: str, body: str, disposition: str | None = None) -> Event:
        note = Note(id=self.ids(), at=self.clock.now(), author=actor.id, body=clean_text(body))
        return await self._update(
            interaction_id,
            lambda ix: machine.add_note(ix, actor=actor, note=note, disposition=disposition, now=self.clock.now()),
        )

    async def attach_recording(self, interaction_id: str, recording: Recording) -> Event:
        return await self._update(
            interaction_id, lambda ix: machine.attach_recording(ix, recording=recording, now=self.clock.now())
        )

    async def attach_transcript(self, interaction_id: str, transcript: Transcript) -> Event:
        """The provider's transcription of a recording, kept as :func:`clean_text` leaves it."""
        transcript = transcript.model_copy(update={"text": clean_text(transcript.text)})
        return await self._update(
            interaction_id, lambda ix: machine.attach_transcript(ix, transcript=transcript, now=self.clock.now())
        )

    async def provider_status(self, interaction_id: str, *, kind: str, status: str, detail: str, **data: Any) -> Event:
        """``kind`` names a :class:`machine.ProviderReport`; any other is a programming error (ValueError)."""
        report = machine.ProviderReport(kind)
        return await self._update(
            interaction_id,
            lambda ix: machine.provider_status(
                ix, kind=report, status=status, detail=detail, now=self.clock.now(), **data
            ),
        )

    async def recording_stored(self, interaction_id: str, recording_id: str, uri: str) -> Event:
        return await self._update(
            interaction_id,
            lambda ix: machine.recording_stored(ix, recording_id=recording_id, uri=uri, now=self.clock.now()),
        )
