"""Direct messages as commands of the core: ``Sessions`` inherits them (the rules are in ``direct_messages``).

Each command resolves what the pure rules need (the two users, the linked interaction, the time),
lets them decide, and hands the decision to the store, which keeps the message and its event in
one transaction.  Nothing here reads the activity feed or any interaction but the one linked.
"""

from __future__ import annotations

from typing import Any

from . import direct_messages as dm
from .clock import Clock
from .direct_messages import Correspondent, DirectMessage, ThreadPage, ThreadSummary
from .errors import NotFound
from .model import User


class Inbox:
    #: The SQL store of record, or the live layer that delegates these methods to it.
    store: Any
    clock: Clock

    async def send_direct_message(
        self, actor: User, to: str, body: str, interaction_id: str | None = None
    ) -> DirectMessage:
        """Writes to ``to`` in their one thread (created by the first message, whichever side writes it)."""
        try:
            recipient = await self.store.get_user(to)
        except NotFound:
            raise NotFound(f"User {to[:64]} does not exist.") from None
        interaction = await self.store.get_interaction(interaction_id) if interaction_id is not None else None
        draft = dm.compose(actor, recipient, body, self.clock.now(), interaction)
        message, _ = await self.store.add_direct_message(draft)
        return message

    async def direct_threads(self, actor: User, limit: int = 100, only: str | None = None) -> list[ThreadSummary]:
        """The actor's threads (or only thread ``only``), most recently written first,
        each with its last message and what they have not read."""
        rows = await self.store.direct_threads(actor.id, limit, only)
        names = {u.id: u.name for u in await self.store.list_users()} if rows else {}
        return [
            ThreadSummary(
                id=tid,
                other=Correspondent(id=other, name=names.get(other, other)),
                last=last,
                unread=unread,
                updated_at=at,
            )
            for tid, other, last, unread, at in rows
        ]

    async def _thread(self, actor: User, thread_id: str) -> ThreadSummary:
        found = await self.direct_threads(actor, 1, thread_id)
        dm.require_member(None if not found else (actor.id, found[0].other.id), actor, thread_id)
        return found[0]

    async def direct_thread(
        self, actor: User, thread_id: str, before: str | None = None, limit: int | None = None
    ) -> ThreadPage:
        """A page of one thread, for its two members only."""
        key, size = dm.before_key(before), dm.page_size(limit)
        thread = await self._thread(actor, thread_id)
        messages, older = await self.store.direct_messages(thread_id, key, size)
        return ThreadPage(thread=thread, messages=messages, before=older)

    async def read_direct_thread(self, actor: User, thread_id: str) -> ThreadSummary:
        """Marks the thread read up to its last message, for the actor (the other member's mark is theirs)."""
        await self._thread(actor, thread_id)
        await self.store.read_direct_thread(thread_id, actor.id, self.clock.now())
        return await self._thread(actor, thread_id)
