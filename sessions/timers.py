"""Timers: offers that ring out and wrap-ups past their limit, found by due time.

The ``Timers`` mixin of ``Sessions``: the decisions are the state machine's
(``expire_offer``, ``auto_complete``); this finds what is due through the
store's indexes and runs each as a normal versioned update.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from . import machine
from .clock import Clock
from .errors import DomainError
from .events import Change, Event
from .model import Interaction
from .queues import Queue
from .stores.base import Store


class Timers:
    store: Store
    clock: Clock

    async def run_timers(self, batch: int = 500) -> list[Event]:
        """Expires unanswered offers and auto-completes wrap-ups past their limit.

        Found by deadline: one indexed query for due offers and one per
        wrap-up limit among the auto-completing queues (the limit is a queue
        setting), so a tick costs O(queues + due items), not the active set;
        at most ``batch`` of each per tick, the rest on the next.
        Safe to run from every process at once: each step is a normal
        versioned update, and the state machine refuses a timer that another
        process (or a person) has already overtaken.
        """
        now = self.clock.now()
        due: list[tuple[Interaction, Callable[[Interaction], Change]]] = [
            (ix, lambda cur: machine.expire_offer(cur, now=now)) for ix in await self.store.due_offers(now, batch)
        ]
        by_limit: dict[int, dict[str, Queue]] = {}
        for queue in await self.store.list_queues():
            if queue.settings.auto_complete:
                by_limit.setdefault(queue.settings.wrap_up_limit, {})[queue.id] = queue
        for limit, queues in by_limit.items():
            due += [(ix, lambda cur, q=queues[ix.queue_id]: machine.auto_complete(cur, queue=q, now=now))
                    for ix in await self.store.due_wrap_ups(queues, now - timedelta(seconds=limit), batch)]
        fired: list[Event] = []
        for ix, step in due:
            try:
                fired.append(await self.store.update(ix.id, step, now))
            except DomainError:
                continue  # overtaken: claimed, completed or moved meanwhile
        return fired
