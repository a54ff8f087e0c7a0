"""Fan-out of the event log to this process's agent websockets.

One reader per process follows the store's log (``store.wait_events``: with
several processes the Redis Stream the relay fills from SQL, read with XREAD
BLOCK; with one, the events table) and hands each event, serialised once, to
every subscriber it concerns.  Because every process reads the same log, an
interaction created through process A reaches an agent connected to process
B with no pub/sub on the side, and an outage of Redis or the database only
pauses the reader: it resumes from its last cursor, so nothing is skipped.

Each subscriber has a bounded buffer.  A consumer too slow to drain it is
cut off with a reason instead of growing memory or stalling everyone else;
the client reconnects with ``since=<last cursor it got>`` and replays.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sessions import access
from sessions.access import Scope
from sessions.errors import StoreUnavailable
from sessions.events import Cursor, Event, cursor_key
from sessions.stores import Store
from sessions.stores.live import raise_if_cancelling

log = logging.getLogger("gateway.hub")

#: JSON of an event as the agent websocket sends it: the contract fields, plus ``data``.
WIRE_FIELDS = {"id", "type", "at", "interaction", "data"}


def wire(event: Event) -> str:
    return event.model_dump_json(include=WIRE_FIELDS)


@dataclass(eq=False)
class Subscriber:
    """One websocket's view: what it wants, and a bounded buffer of serialised events.

    A deque plus one wake-up event rather than an asyncio.Queue: the sender
    drains everything buffered per wake-up, and overflow, closing or revocation
    wake it through the same event, so it waits on exactly one thing.

    ``scope`` is set for a user's socket: access events in the log re-scope it
    (queues, role) or revoke it, at their place in the log.
    """

    queues: set[str] | None
    users: set[str]
    role: str | None
    capacity: int
    scope: Scope | None = None
    buffer: deque[tuple[int, str]] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closed: bool = False
    #: Signed out (token revoked, password changed, user disabled): the socket closes with 4401.
    revoked: bool = False

    def push(self, cursor: int, text: str) -> None:
        if self.overflowed or self.closed:
            return
        if len(self.buffer) >= self.capacity:
            self.overflowed = True
            self.buffer.clear()
        else:
            self.buffer.append((cursor, text))
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    def revoke(self) -> None:
        self.revoked = True
        self.buffer.clear()
        self.close()

    def rescope(self, scope: Scope) -> None:
        self.scope = scope
        self.role = scope.role
        self.queues = None if scope.queues is None else set(scope.queues)

    def apply(self, event: Event) -> None:
        """Acts on an access event (see sessions.access) if it is about this socket."""
        if self.scope is None:
            return
        if access.revokes(event, self.scope):
            self.revoke()
        elif (scope := access.rescoped(event, self.scope)) is not None:
            self.rescope(scope)

    async def drain(self) -> list[tuple[int, str]]:
        """Waits for something to happen; returns what is buffered (empty on overflow or close)."""
        await self.ready.wait()
        self.ready.clear()
        items = list(self.buffer)
        self.buffer.clear()
        return items


class Hub:
    def __init__(self, store: Store, *, block_seconds: float = 5.0) -> None:
        self.store = store
        self.block_seconds = block_seconds
        self.subscribers: set[Subscriber] = set()
        self.cursor: Cursor | None = None
        self.healthy = asyncio.Event()
        #: Set whenever work may have appeared for the dispatcher (anything but metrics).
        self.changed = asyncio.Event()
        #: Called (synchronously, so it must not block) after each batch of events: the webhook worker's wake-up.
        self.listeners: list[Callable[[], None]] = []
        #: Called (synchronously, so it must not block) with each batch of events: live calls following their events.
        self.event_listeners: list[Callable[[list[Event]], None]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.cursor = await self.store.last_cursor() or "0"
        self.healthy.set()
        self._task = asyncio.create_task(self._run(), name="hub-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def subscribe(self, queues: set[str] | None, users: set[str], role: str | None, capacity: int) -> Subscriber:
        sub = Subscriber(queues, users, role, capacity)
        self.subscribers.add(sub)
        return sub

    def subscribe_user(self, scope: Scope, capacity: int) -> Subscriber:
        """A user's socket: sees its queues (all for admins) and its own interactions, follows access changes."""
        sub = Subscriber(None, {scope.user}, None, capacity)
        sub.rescope(scope)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def dispatch(self, events: list[Event]) -> None:
        for event in events:
            self.cursor = event.id
            if event.type in access.TYPES:
                for sub in list(self.subscribers):
                    sub.apply(event)
                self.changed.set()
                continue
            text: str | None = None
            key = cursor_key(event.id)  # parsed once, compared by every subscriber
            for sub in self.subscribers:
                if event.concerns(sub.queues, sub.users, sub.role):
                    text = text or wire(event)
                    sub.push(key, text)
            if event.type != "queue.metrics":
                self.changed.set()
        if events:
            for listener in self.listeners:
                listener()
            for follow in self.event_listeners:
                follow(events)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            raise_if_cancelling()
            try:
                events = await self.store.wait_events(self.cursor, self.block_seconds)
            except asyncio.CancelledError:
                raise
            except (StoreUnavailable, OSError) as exc:
                raise_if_cancelling()  # stopping: not an outage to ride out
                # Store unreachable: report unready, retry from the same cursor.
                if self.healthy.is_set():
                    log.warning("event reader lost the store (%s); retrying from %s", exc, self.cursor)
                self.healthy.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if not self.healthy.is_set():
                log.warning("event reader reconnected at %s", self.cursor)
            self.healthy.set()
            backoff = 0.1
            self.dispatch(events)
