"""Committed events reach the process that holds a call's audio, whichever process committed them.

Behind a round-robin balancer an agent's "End", a transfer or a consult may be given on any process; only the
call's home (``sessions/call_homes.py``) holds the bridge that must hang up, hold or dial.  Each process hears every
committed event from the log (the hub), and :class:`Follower` hands those of the calls it holds to
:meth:`LiveCalls.follow`, in order, beside the hub.  The process where the command was given follows it at once
only when no other process holds the call (:func:`held_elsewhere`), so a provider action (a dial, a redirect, a
hang-up) is taken once, by one process.  ``follow`` is idempotent by version, so the home following its own
command twice (at once, and again from the log) does nothing the second time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sessions.errors import DomainError, StoreUnavailable
from sessions.events import Event
from sessions.model import CommType
from sessions.service import Sessions

if TYPE_CHECKING:
    from .live_calls import LiveCalls

log = logging.getLogger("channels.following")


async def held_elsewhere(sessions: Sessions, node: str, interaction_id: str) -> bool:
    """Whether another process holds the call's audio now (it follows the call's events itself)."""
    home = await sessions.call_home(interaction_id)
    return home is not None and home.node != node and not home.handed_off


class Follower:
    """The hub's listener for this process's calls: events queue here and are followed one at a time."""

    def __init__(self, live: LiveCalls) -> None:
        self.live = live
        self.pending: asyncio.Queue[Event] = asyncio.Queue()

    def heard(self, events: list[Event]) -> None:
        """Called by the hub with each batch (synchronously: it only queues)."""
        for event in events:
            ix = event.interaction
            if ix is not None and ix.type is CommType.CALL and self.live.get(ix.id) is not None:
                self.pending.put_nowait(event)

    async def run_forever(self) -> None:
        """A lifespan task: follows what :meth:`heard` queued; a refusal is logged, never stops the others."""
        while True:
            event = await self.pending.get()
            try:
                await self.live.follow(event)
            except (DomainError, StoreUnavailable) as exc:
                log.warning("%s of a call not followed here: %s", event.type, exc)
