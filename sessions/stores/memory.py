"""The embedded default store: one process, nothing to install.

Every method body runs without awaiting in the middle, so under asyncio each
is atomic with respect to the others; no locks are needed.  State objects
are stored and returned as deep copies so a caller mutating what it got back
cannot change stored state behind the store's back.  Logged events are
handed out as they are (no copy): they are immutable snapshots, read on the
fan-out hot path, and nothing writes to them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import datetime

from ..errors import AlreadyExists, CursorExpired, NotFound
from ..events import Cursor, Event, EventPage, cursor_key, next_cursor
from ..model import Interaction, Queue, State, User
from .base import BaseStore, index_changes

DEFAULT_MAX_EVENTS = 100_000


class MemoryStore(BaseStore):
    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self._queues: dict[str, Queue] = {}
        self._users: dict[str, User] = {}
        self._usernames: dict[str, str] = {}
        self._passwords: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._interactions: dict[str, Interaction] = {}
        self._maps: dict[str, dict[str, str]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._remembered: dict[str, tuple[str, float]] = {}
        self._indexes: dict[str, dict[str, float]] = {}
        self._events: deque[Event] = deque()
        self._max_events = max_events
        self._trimmed_through: Cursor | None = None
        self._last: Cursor | None = None
        #: Set (and replaced) on every append: waiters hold the one current when they started.
        self._appended = asyncio.Event()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    # -- queues and users ----------------------------------------------------

    async def put_queue(self, queue: Queue) -> None:
        self._queues[queue.id] = queue.model_copy(deep=True)

    async def get_queue(self, queue_id: str) -> Queue:
        try:
            return self._queues[queue_id].model_copy(deep=True)
        except KeyError:
            raise NotFound(f"Queue {queue_id} does not exist.") from None

    async def list_queues(self) -> list[Queue]:
        return [q.model_copy(deep=True) for q in sorted(self._queues.values(), key=lambda q: q.id)]

    async def put_user(self, user: User) -> None:
        owner = self._usernames.get(user.username)
        if owner is not None and owner != user.id:
            raise AlreadyExists(f"Username {user.username} is taken.")
        old = self._users.get(user.id)
        if old is not None and old.username != user.username:
            del self._usernames[old.username]
        self._users[user.id] = user.model_copy(deep=True)
        self._usernames[user.username] = user.id

    async def get_user(self, user_id: str) -> User:
        try:
            return self._users[user_id].model_copy(deep=True)
        except KeyError:
            raise NotFound(f"User {user_id} does not exist.") from None

    async def find_user(self, username: str) -> User | None:
        uid = self._usernames.get(username)
        return None if uid is None else self._users[uid].model_copy(deep=True)

    async def list_users(self) -> list[User]:
        return [u.model_copy(deep=True) for u in sorted(self._users.values(), key=lambda u: u.username)]

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._passwords[user_id] = password_hash

    async def get_password_hash(self, user_id: str) -> str | None:
        return self._passwords.get(user_id)

    async def put_token(self, digest: str, user_id: str) -> None:
        self._tokens[digest] = user_id

    async def token_user(self, digest: str) -> str | None:
        return self._tokens.get(digest)

    async def revoke_token(self, digest: str) -> str | None:
        return self._tokens.pop(digest, None)

    async def revoke_user_tokens(self, user_id: str, keep: str | None = None) -> list[str]:
        gone = sorted(d for d, uid in self._tokens.items() if uid == user_id and d != keep)
        for d in gone:
            del self._tokens[d]
        return gone

    # -- interactions ----------------------------------------------------------

    async def get_interaction(self, interaction_id: str) -> Interaction:
        try:
            return self._interactions[interaction_id].model_copy(deep=True)
        except KeyError:
            raise NotFound(f"Interaction {interaction_id} does not exist.") from None

    async def list_interactions(self, queue_id: str | None, state: State, limit: int = 100, offset: int = 0, since: datetime | None = None) -> list[Interaction]:
        index = self._indexes.get(f"{state.value}:{queue_id or '*'}", {})
        floor = since.timestamp() if since else float("-inf")
        ordered = sorted(((i, sc) for i, sc in index.items() if sc >= floor), key=lambda kv: (kv[1], kv[0]), reverse=state is State.COMPLETED)
        return [self._interactions[i].model_copy(deep=True) for i, _ in ordered[offset : offset + limit]]

    async def _commit(self, before: Interaction | None, event: Event) -> Event | None:
        ix = event.interaction
        current = self._interactions.get(ix.id)
        if before is None and current is not None:
            raise AlreadyExists(f"Interaction {ix.id} already exists.")
        if before is not None and (current is None or current.version != before.version):
            return None
        self._interactions[ix.id] = ix.model_copy(deep=True)
        for name, score in index_changes(before, ix).items():
            if score is None:
                self._indexes.get(name, {}).pop(ix.id, None)
            else:
                self._indexes.setdefault(name, {})[ix.id] = score
        return self._append(event)

    # -- maps and leases --------------------------------------------------------

    async def map_set(self, name: str, key: str, value: str) -> None:
        self._maps.setdefault(name, {})[key] = value

    async def map_get(self, name: str, key: str) -> str | None:
        return self._maps.get(name, {}).get(key)

    async def map_all(self, name: str) -> dict[str, str]:
        return dict(self._maps.get(name, {}))

    async def map_delete(self, name: str, *keys: str) -> None:
        for k in keys:
            self._maps.get(name, {}).pop(k, None)

    async def remember(self, key: str, value: str, ttl: float) -> bool:
        if await self.recall(key) is not None:
            return False
        self._remembered[key] = (value, time.monotonic() + ttl)
        return True

    async def recall(self, key: str) -> str | None:
        entry = self._remembered.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._remembered[key]
            return None
        return entry[0]

    async def take(self, key: str) -> str | None:
        value = await self.recall(key)
        self._remembered.pop(key, None)
        return value

    async def lease(self, name: str, owner: str, ttl: float) -> bool:
        holder = self._leases.get(name)
        now = time.monotonic()
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[name] = (owner, now + ttl)
        return True

    async def release(self, name: str, owner: str) -> None:
        if self._leases.get(name, ("", 0))[0] == owner:
            del self._leases[name]

    # -- the event log ---------------------------------------------------------

    async def publish(self, event: Event) -> Event:
        return self._append(event)

    def _append(self, event: Event) -> Event:
        self._last = next_cursor(self._last, int(time.time() * 1000))
        stored = event.model_copy(update={"id": self._last})
        self._events.append(stored)
        while len(self._events) > self._max_events:
            self._trimmed_through = self._events.popleft().id
        self._appended.set()
        self._appended = asyncio.Event()
        return stored

    def _after(self, cursor: Cursor | None) -> list[Event]:
        if cursor is None:
            return list(self._events)
        key = cursor_key(cursor)
        if self._trimmed_through is not None and key < cursor_key(self._trimmed_through):
            raise CursorExpired(f"Events after {cursor} are no longer kept (the log starts after {self._trimmed_through}); reload and resume from the latest cursor.")
        # Cursors are increasing, so bisect on the deque's order.
        lo, hi = 0, len(self._events)
        while lo < hi:
            mid = (lo + hi) // 2
            if cursor_key(self._events[mid].id) <= key:
                lo = mid + 1
            else:
                hi = mid
        return [self._events[i] for i in range(lo, len(self._events))]

    async def events_since(self, cursor: Cursor | None, *, queues: set[str] | None = None, users: set[str] | None = None, role: str | None = None, limit: int = 500) -> EventPage:
        scanned = self._after(cursor)[:limit]
        return EventPage(
            events=[e for e in scanned if e.concerns(queues, users, role)],
            last=scanned[-1].id if scanned else cursor,
            complete=len(scanned) < limit,
        )

    async def last_cursor(self) -> Cursor | None:
        return self._last

    async def wait_events(self, after: Cursor | None, timeout: float, limit: int = 500) -> list[Event]:
        if after is None:
            after = self._last or "0-0"
        pending = self._after(after)
        if not pending:
            try:
                await asyncio.wait_for(self._appended.wait(), timeout)
            except TimeoutError:
                return []
            pending = self._after(after)
        return pending[:limit]
