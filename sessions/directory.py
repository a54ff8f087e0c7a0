"""The reads adapters make outside the interaction commands, by name, so gateway/ and channels/ never hold the store.

A mixin of :class:`sessions.service.Sessions` (like :class:`sessions.disconnects.Disconnects`).  Two kinds:

* system reads, with no actor: a webhook resolving a queue by its number, a channel looking up the interaction
  a provider's id points at, a route checking that a user exists before an admin-only change.  Whoever calls
  them has already decided the caller may know the answer (or no person is asking);
* reads an actor makes (history search and export): the access rule is applied here, before any row is read.

Also what adapters keep beside the record: webhook answers remembered for retries, leases for work one
process at a time must do, and the upkeep that drops what is past its retention (``prune``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .clock import Clock
from .events import Cursor, EventPage
from .history import HistoryCriteria, HistoryFilter, may_export, searchable_queues
from .model import Interaction, User
from .queues import Queue
from .stores.base import Store


class Directory:
    """Named reads over ``Sessions.store``; relies on nothing else of Sessions."""

    store: Store  # provided by Sessions
    clock: Clock  # provided by Sessions

    # -- system reads ---------------------------------------------------------------

    async def health(self) -> dict[str, bool]:
        """Whether the record answers, and (when there is one) the live layer: readiness names each."""
        checks = {"store": await self.store.ping()}
        ping_live = getattr(self.store, "ping_live", None)  # only a store with a live layer beside the record has one
        if ping_live is not None:
            checks["redis"] = await ping_live()
        return checks

    async def last_cursor(self) -> Cursor | None:
        """The log's position now: a listing returns it so its reader follows live from exactly there."""
        return await self.store.last_cursor()

    async def events_since(
        self, cursor: Cursor | None, *, queues: set[str] | None, users: set[str], role: str | None, limit: int = 500
    ) -> EventPage:
        """The log after ``cursor`` that concerns these queues (None: all), users and role: a socket's replay, whose
        scope the caller took from its token (``sessions.access.Scope``)."""
        return await self.store.events_since(cursor, queues=queues, users=users, role=role, limit=limit)

    async def users(self) -> list[User]:
        return await self.store.list_users()

    async def user(self, user_id: str) -> User:
        """NotFound for an unknown id."""
        return await self.store.get_user(user_id)

    async def find_user(self, username: str) -> User | None:
        return await self.store.find_user(username)

    async def queues(self) -> list[Queue]:
        return await self.store.list_queues()

    async def queue(self, queue_id: str) -> Queue:
        """NotFound for an unknown id."""
        return await self.store.get_queue(queue_id)

    async def queue_for_number(self, number: str | None) -> Queue | None:
        """The queue whose configured phone number this is (None for none or no number)."""
        if not number:
            return None
        return next((q for q in await self.store.list_queues() if q.settings.phone_number == number), None)

    async def interaction(self, interaction_id: str) -> Interaction:
        """NotFound for an unknown id.  For an actor's read use ``Sessions.get``, which checks access."""
        return await self.store.get_interaction(interaction_id)

    # -- reads an actor makes ------------------------------------------------------------

    async def search_history(self, actor: User, criteria: HistoryFilter) -> tuple[list[Interaction], str | None]:
        """One page of completed interactions the actor may read, newest first, and the next page's cursor."""
        queues = searchable_queues(actor, criteria.queue)
        return await self.store.search_history(criteria, queues)  # type: ignore[attr-defined, no-any-return]

    def export_history(self, actor: User, criteria: HistoryCriteria) -> AsyncIterator[Interaction]:
        """Every completed interaction the actor may read that matches, newest first, a batch at a time.

        The access rule is checked on the call, not on the first iteration: a refusal comes before any response starts.
        """
        may_export(actor)
        queues = searchable_queues(actor, criteria.queue)
        return self.store.export_history(criteria, queues)  # type: ignore[attr-defined, no-any-return]

    # -- kept beside the record ----------------------------------------------------------------

    async def past_answer(self, key: str) -> str | None:
        """The answer remembered for a delivery already handled (a provider's retry), if still kept."""
        return await self.store.recall(key)

    async def keep_answer(self, key: str, answer: str, seconds: float) -> None:
        """Remembers a delivery's answer for ``seconds``; the first answer kept stays."""
        await self.store.remember(key, answer, seconds)

    async def prune(self, retention_seconds: float) -> tuple[int, int, int]:
        """Drops events past the retention, remembered values past their expiry and webhook deliveries past the
        retention; answers how many of each.  The retention counts on the clock that stamps the events (this one),
        not the machine's: with a clock of its own (tests' ManualClock, months behind the machine) events were pruned
        while the hub was still reading them."""
        now = self.clock.now().timestamp()
        return (
            await self.store.prune_events(retention_seconds, now=now),
            await self.store.forget_expired(),
            await self.store.prune_webhook_deliveries(now - retention_seconds),
        )

    async def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Takes (or renews) the lease ``name`` for ``owner``: False while another process holds it."""
        return await self.store.lease(name, owner, seconds)

    async def release(self, name: str, owner: str) -> None:
        await self.store.release(name, owner)
