"""The Store protocol and what every implementation shares.

A store keeps queues, users and interactions, and the append-only event log.
Its one rule: a state change and the event recording it are written in one
atomic operation, so the log never misses a change nor records one that did
not happen.  Interactions change by optimistic concurrency: read a version,
decide with the pure state machine, commit only if the version is unchanged,
otherwise read again and decide again.  Under a race the losers re-decide on
the winner's state, which is how "exactly one claim wins" falls out of the
state machine instead of being a special case.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from ..customers import Contact, CustomerProfile
from ..errors import ConcurrentUpdate
from ..events import Change, Cursor, Event, EventPage, event_for
from ..metrics import Backlog, Tally
from ..model import Channel, Interaction, State, User
from ..queues import Queue, QueueSettings

#: How many times an update re-reads and re-decides before giving up.
MAX_ATTEMPTS = 200


class Store(Protocol):
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...

    #: ``events`` (about the change) are appended to the log in the same transaction as the row.
    async def put_queue(self, queue: Queue, events: Sequence[Event] = ()) -> list[Event]: ...
    async def get_queue(self, queue_id: str) -> Queue: ...
    async def list_queues(self) -> list[Queue]: ...

    async def put_user(self, user: User, events: Sequence[Event] = ()) -> list[Event]: ...
    async def get_user(self, user_id: str) -> User: ...
    async def find_user(self, username: str) -> User | None: ...
    async def list_users(self) -> list[User]: ...

    # Secrets are opaque strings to the store: a password hash, a token digest.
    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...
    async def get_password_hash(self, user_id: str) -> str | None: ...
    async def put_token(self, digest: str, user_id: str) -> None: ...
    async def token_user(self, digest: str) -> str | None: ...
    #: Returns the user the token belonged to, if it was valid.
    async def revoke_token(self, digest: str) -> str | None: ...
    #: Revokes every token of the user but ``keep``; returns the digests revoked.
    async def revoke_user_tokens(self, user_id: str, keep: str | None = None) -> list[str]: ...

    async def insert(self, change: Change, at: datetime) -> Event: ...
    async def update(self, interaction_id: str, decide: Callable[[Interaction], Change], at: datetime) -> Event: ...
    #: Two interactions changed together: both versioned updates and both events in one transaction (merge).
    async def update_pair(
        self,
        first_id: str,
        second_id: str,
        decide: Callable[[Interaction, Interaction], tuple[Change, Change]],
        at: datetime,
    ) -> tuple[Event, Event]: ...
    async def get_interaction(self, interaction_id: str) -> Interaction: ...
    async def list_interactions(
        self, queue_id: str | None, state: State, limit: int = 100, offset: int = 0, since: datetime | None = None
    ) -> list[Interaction]: ...

    # Indexed reads: timers, dispatch and figures cost what is due or asked, never the whole active set.
    #: Offers still ringing whose expiry is at or before ``now``.
    async def due_offers(self, now: datetime, limit: int = 500) -> list[Interaction]: ...
    #: Wrap-ups of these queues started at or before ``started_before`` (now minus their shared wrap-up limit).
    async def due_wrap_ups(
        self, queue_ids: Collection[str], started_before: datetime, limit: int = 500
    ) -> list[Interaction]: ...
    #: The queue's calls still open or ringing, never answered, created at or before ``created_before``.
    async def overdue_calls(self, queue_id: str, created_before: datetime, limit: int = 500) -> list[Interaction]: ...
    #: The ``limit`` oldest open interactions of the queue on the channel.
    async def waiting(self, queue_id: str, channel: Channel, limit: int) -> list[Interaction]: ...
    #: Per user, the active interactions assigned or offered to them, counted per channel.
    async def loads(self, user_ids: Collection[str]) -> dict[str, Counter[Channel]]: ...
    #: Active interactions the user holds, is offered, or is consulted on.
    async def involving(self, user_id: str) -> list[Interaction]: ...
    #: The queue's active ones by status and the waiting ones' waits (see metrics.backlog).
    async def backlog(self, queue_id: str, ref: datetime) -> Backlog: ...
    #: The queue's service-level tally for each window ``[start, now]`` (see metrics.tally).
    async def service_tallies(
        self, queue_id: str, settings: QueueSettings, starts: Sequence[datetime], now: datetime
    ) -> list[Tally]: ...
    #: When the queue's tallies next change by the clock alone (an arrival leaves ``window`` or passes the threshold).
    async def next_tally_change(
        self, queue_id: str, settings: QueueSettings, window: timedelta, now: datetime
    ) -> datetime | None: ...
    #: Queues whose interactions changed after the cursor
    #: (None: cannot tell, treat all as changed), and the last cursor read.
    async def queues_changed_since(
        self, after: Cursor | None, limit: int = 2000
    ) -> tuple[set[str] | None, Cursor | None]: ...

    # Customer profiles (stores/sql/customers.py; the rules are sessions/customers.py).
    async def link_customer(
        self, *, phone: str | None, email: str | None, name: str | None, current: str | None, new_id: str, at: datetime
    ) -> CustomerProfile: ...
    async def get_customer(self, customer_id: str) -> CustomerProfile: ...
    async def customer_interactions(
        self, customer_id: str, queues: Collection[str] | None, limit: int
    ) -> list[Interaction]: ...
    #: What the customer's newest ``limit`` interactions in ``queues`` (None: all) say about them (name, phone, email).
    async def customer_contacts(
        self, customer_id: str, queues: Collection[str] | None, limit: int
    ) -> list[Contact]: ...
    async def search_customers(
        self, key: str, queues: Collection[str] | None, limit: int, offset: int = 0
    ) -> list[CustomerProfile]: ...

    async def publish(self, event: Event) -> Event: ...
    async def events_since(
        self,
        cursor: Cursor | None,
        *,
        queues: set[str] | None = None,
        users: set[str] | None = None,
        role: str | None = None,
        limit: int = 500,
    ) -> EventPage: ...
    async def last_cursor(self) -> Cursor | None: ...
    async def wait_events(self, after: Cursor | None, timeout: float, limit: int = 500) -> list[Event]: ...

    # Small shared maps (routing config, presence, connections, routing recency): name -> key -> string.
    async def map_set(self, name: str, key: str, value: str) -> None: ...
    async def map_get(self, name: str, key: str) -> str | None: ...
    async def map_all(self, name: str) -> dict[str, str]: ...
    async def map_delete(self, name: str, *keys: str) -> None: ...

    #: Keeps ``value`` under ``key`` for ``ttl`` seconds unless the key is taken; True if it was free (webhook dedupe).
    async def remember(self, key: str, value: str, ttl: float) -> bool: ...
    async def recall(self, key: str) -> str | None: ...
    #: Recalls and forgets in one step: a remembered value can be taken once (single-use tickets).
    async def take(self, key: str) -> str | None: ...

    #: A lease held by one owner at a time until released or ``ttl`` seconds pass (one dispatcher across processes).
    async def lease(self, name: str, owner: str, ttl: float) -> bool: ...
    async def release(self, name: str, owner: str) -> None: ...

    # Upkeep: what is past its retention or expiry goes; each answers how many.
    async def prune_events(self, retention_seconds: float, batch: int = 10_000, now: float | None = None) -> int: ...
    async def forget_expired(self) -> int: ...
    async def prune_webhook_deliveries(self, before: float) -> int: ...


class BaseStore(ABC):
    """The optimistic read-decide-commit loop, written once for every store."""

    async def insert(self, change: Change, at: datetime) -> Event:
        event = event_for(None, change, at)
        return await self._commit(None, event)

    async def update(self, interaction_id: str, decide: Callable[[Interaction], Change], at: datetime) -> Event:
        for _ in range(MAX_ATTEMPTS):
            before = await self.get_interaction(interaction_id)
            change = decide(before)
            event = event_for(before, change, at)
            committed = await self._commit(before, event)
            if committed is not None:
                return committed
        raise ConcurrentUpdate(f"Interaction {interaction_id} kept changing underneath; try again.")

    async def update_pair(
        self,
        first_id: str,
        second_id: str,
        decide: Callable[[Interaction, Interaction], tuple[Change, Change]],
        at: datetime,
    ) -> tuple[Event, Event]:
        """Like :meth:`update` for two interactions at once: either both changes commit, with both events, or neither.

        Both are read, ``decide`` sees both, and the two versioned writes share one transaction; if
        either version moved on, nothing is written and both are read and decided again.
        """
        if first_id == second_id:
            raise ValueError("update_pair needs two different interactions")
        for _ in range(MAX_ATTEMPTS):
            first, second = await self.get_interaction(first_id), await self.get_interaction(second_id)
            one, two = decide(first, second)
            committed = await self._commit_all(
                [(first, event_for(first, one, at)), (second, event_for(second, two, at))]
            )
            if committed is not None:
                return committed[0], committed[1]
        raise ConcurrentUpdate(f"Interactions {first_id} and {second_id} kept changing underneath; try again.")

    @abstractmethod
    async def get_interaction(self, interaction_id: str) -> Interaction: ...

    @abstractmethod
    async def _commit(self, before: Interaction | None, event: Event) -> Event | None:
        """Write ``event.interaction`` and append ``event`` atomically.

        With ``before`` None the interaction must not exist yet (AlreadyExists
        otherwise); else the stored version must still be ``before.version``.
        Returns the event with its cursor, or None when the version moved on.
        """

    @abstractmethod
    async def _commit_all(self, changes: list[tuple[Interaction | None, Event]]) -> list[Event] | None:
        """Like :meth:`_commit` for several changes in one atomic step: all written, or none (None)."""
