"""The service side of the live call's state: the commands the call routes issue (hold, three-way, monitoring, audio).

A mixin of :class:`sessions.service.Sessions` (like :class:`sessions.disconnects.Disconnects`); the rules are in
:mod:`sessions.call_control`.  Each returns the committed event, whose interaction's ``call`` the audio then follows.
"""

from __future__ import annotations

from collections.abc import Callable

from . import call_control
from .call_model import LinePart, MonitorMode
from .clock import Clock
from .events import Event
from .model import User


class CallState:
    """Relies on ``Sessions._update`` and its clock."""

    _update: Callable  # provided by Sessions
    clock: Clock

    async def hold(self, actor: User, interaction_id: str, on: bool) -> Event:
        return await self._update(
            interaction_id, lambda ix: call_control.hold(ix, actor=actor, on=on, now=self.clock.now())
        )

    async def three_way(self, actor: User, interaction_id: str, on: bool) -> Event:
        return await self._update(
            interaction_id, lambda ix: call_control.three_way(ix, actor=actor, on=on, now=self.clock.now())
        )

    async def monitor(self, actor: User, interaction_id: str, mode: MonitorMode) -> Event:
        return await self._update(
            interaction_id, lambda ix: call_control.monitor(ix, actor=actor, mode=mode, now=self.clock.now())
        )

    async def monitor_stopped(self, actor: User, interaction_id: str) -> Event:
        return await self._update(
            interaction_id, lambda ix: call_control.monitor_stopped(ix, actor=actor, now=self.clock.now())
        )

    async def audio_joined(self, actor: User | None, interaction_id: str, party: LinePart) -> Event:
        """``actor`` None: the customer's audio (``party`` caller) or an outside number's (consult)."""
        return await self._update(
            interaction_id, lambda ix: call_control.audio_joined(ix, party=party, actor=actor, now=self.clock.now())
        )

    async def audio_moved(
        self, interaction_id: str, *, from_node: str | None, to_node: str, reason: str, gap_seconds: float | None
    ) -> Event:
        """The call's audio was taken over by ``to_node`` (``from_node`` died or stopped): recorded for people, and
        told to the browsers on the call, which connect again."""
        return await self._update(
            interaction_id,
            lambda ix: call_control.audio_moved(
                ix, from_node=from_node, to_node=to_node, reason=reason, gap_seconds=gap_seconds, now=self.clock.now()
            ),
        )

    async def audio_left(self, actor: User | None, interaction_id: str, party: LinePart) -> Event:
        return await self._update(
            interaction_id, lambda ix: call_control.audio_left(ix, party=party, actor=actor, now=self.clock.now())
        )
