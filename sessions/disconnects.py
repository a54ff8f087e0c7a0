"""The service side of disconnects: the commands channels call when the other end of a contact goes away.

A mixin of :class:`sessions.service.Sessions` (like :class:`sessions.floor.Floor`); the one rule is
:func:`sessions.machine.customer_left`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import machine
from .disconnect import CALL_STATUS, Leg
from .errors import IllegalTransition
from .events import Change, Event
from .model import DisconnectBy, DisconnectReason, Interaction
from .queues import Queue


class Disconnects:
    """``customer_left`` and the two ways channels report it; relies on ``Sessions._with_queue`` and its clock."""

    _with_queue: Callable  # provided by Sessions
    clock: object

    async def customer_left(
        self, interaction_id: str, by: DisconnectBy, reason: DisconnectReason, leg: Leg | None = None
    ) -> Event:
        """The customer (or the provider) ended the contact: a waiting one is abandoned, a claimed one goes to wrap-up
        (or stays claimed, per the queue).  IllegalTransition when it changes nothing (already wrapping up or completed,
        or gone on from ``leg`` to another channel)."""

        def decide(ix: Interaction, queue: Queue) -> Change:
            return machine.customer_left(ix, queue=queue, by=by, reason=reason, now=self.clock.now(), leg=leg)  # type: ignore[attr-defined]

        return await self._with_queue(interaction_id, decide)

    async def chat_left(self, interaction_id: str) -> Event:
        """The customer closed the chat widget: the contact ends only while the widget is how they are talking."""
        return await self.customer_left(interaction_id, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP, Leg.WIDGET)

    async def call_ended(self, interaction_id: str, status: str) -> Event:
        """A provider's final call status (completed, busy, no-answer, failed, canceled) for the interaction's call."""
        if status not in CALL_STATUS:
            raise IllegalTransition(f"Call status {status!r} does not end the call.")
        return await self.customer_left(interaction_id, *CALL_STATUS[status], Leg.CALL)
