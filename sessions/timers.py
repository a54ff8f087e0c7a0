"""Timers: offers that ring out, wrap-ups past their limit and calls nobody answered, found by due time.

The ``Timers`` mixin of ``Sessions``: the decisions are the state machine's
(``expire_offer``, ``auto_complete``, ``divert_to_voicemail``); this finds what
is due through the store's indexes and runs each as a normal versioned update.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from . import machine
from .clock import Clock
from .errors import DomainError
from .events import Change, Event
from .model import Interaction
from .queues import Queue
from .stores.base import Store

Due = list[tuple[Interaction, Callable[[Interaction], Change]]]


class Timers:
    store: Store
    clock: Clock

    async def run_timers(self, batch: int = 500) -> list[Event]:
        """Expires unanswered offers, auto-completes wrap-ups past their limit and sends calls nobody answered
        in time to voicemail; returns the events committed, for the channels to follow (a diverted call is
        redirected by the voice channel of the process that committed it).

        Found by deadline: one indexed query for due offers, one per wrap-up limit among the
        auto-completing queues and one per voicemail queue (the limits are queue settings), so a tick
        costs O(queues + due items), not the active set; at most ``batch`` of each per tick, the rest on
        the next.  Safe to run from every process at once: each step is a normal versioned update, and
        the state machine refuses a timer that another process (or a person) has already overtaken.
        """
        now = self.clock.now()
        queues = await self.store.list_queues()
        due: Due = [
            (ix, lambda cur: machine.expire_offer(cur, now=now)) for ix in await self.store.due_offers(now, batch)
        ]
        due += await self._due_wrap_ups(queues, now, batch)
        due += await self._due_voicemails(queues, now, batch)
        fired: list[Event] = []
        for ix, step in due:
            try:
                fired.append(await self.store.update(ix.id, step, now))
            except DomainError:
                continue  # overtaken (claimed, completed or moved meanwhile), or not for this timer (a browser call)
        return fired

    async def _due_wrap_ups(self, queues: list[Queue], now: datetime, batch: int) -> Due:
        """Wrap-ups past their queue's limit, one query per distinct limit among the auto-completing queues."""
        by_limit: dict[int, dict[str, Queue]] = {}
        for queue in queues:
            if queue.settings.auto_complete:
                by_limit.setdefault(queue.settings.wrap_up_limit, {})[queue.id] = queue
        due: Due = []
        for limit, same in by_limit.items():
            due += [
                (ix, lambda cur, q=same[ix.queue_id]: machine.auto_complete(cur, queue=q, now=now))
                for ix in await self.store.due_wrap_ups(same, now - timedelta(seconds=limit), batch)
            ]
        return due

    async def _due_voicemails(self, queues: list[Queue], now: datetime, batch: int) -> Due:
        """Calls still unanswered past their queue's ``voicemail_after``, one query per queue that takes voicemail."""
        due: Due = []
        for queue in queues:
            if queue.settings.voicemail:
                after = queue.settings.voicemail_after
                reason = f"not answered within {after}s"
                due += [
                    (ix, lambda cur, r=reason: machine.divert_to_voicemail(cur, now=now, reason=r))
                    for ix in await self.store.overdue_calls(queue.id, now - timedelta(seconds=after), batch)
                ]
        return due
