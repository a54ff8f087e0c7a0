"""The service side of disconnects: the commands channels call when the other end of a contact goes away.

A mixin of :class:`sessions.service.Sessions` (like :class:`sessions.floor.Floor`); the rules are in
:mod:`sessions.disconnect`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import disconnect
from .events import Event
from .machine import Change
from .model import DisconnectBy, DisconnectReason, Interaction, Queue


class Disconnects:
    """``contact_ended`` and ``call_ended``; relies on ``Sessions._with_queue`` and its clock."""

    _with_queue: Callable  # provided by Sessions
    clock: object

    async def contact_ended(self, interaction_id: str, by: DisconnectBy, reason: DisconnectReason) -> Event:
        """The customer (or the provider) ended the contact: a waiting one is abandoned, a claimed one goes to wrap-up
        (or stays claimed, per the queue).  IllegalTransition when it changes nothing (already wrapping up or completed)."""
        def decide(ix: Interaction, queue: Queue) -> Change:
            return disconnect.disconnected(ix, queue=queue, by=by, reason=reason, now=self.clock.now())  # type: ignore[attr-defined]

        return await self._with_queue(interaction_id, decide)

    async def chat_left(self, interaction_id: str) -> Event:
        """The customer closed the chat widget (see :func:`disconnect.chat_left`)."""
        return await self._with_queue(interaction_id, lambda ix, queue: disconnect.chat_left(ix, queue=queue, now=self.clock.now()))  # type: ignore[attr-defined]

    async def call_ended(self, interaction_id: str, status: str) -> Event:
        """A provider's final call status (completed, busy, no-answer, failed, canceled) for the interaction's call."""
        def decide(ix: Interaction, queue: Queue) -> Change:
            return disconnect.call_ended(ix, queue=queue, status=status, now=self.clock.now())  # type: ignore[attr-defined]

        return await self._with_queue(interaction_id, decide)
