"""Fan-out of the event log to this process's agent websockets.

One reader per process follows the store's log (``store.wait_events``: with
several processes the Redis Stream the relay fills from SQL, read with XREAD
BLOCK; with one, the events table) and hands each event, serialised once, to
every subscriber it concerns.  Because every process reads the same log, an
interaction created through process A reaches an agent connected to process
B with no pub/sub on the side, and an outage of Redis or the database only
pauses the reader: it resumes from its last cursor, so nothing is skipped.

Each event is serialised once, and framed once (:class:`Outgoing`): a live agent socket that can take it
gets the same frame bytes written straight to its connection (``Subscriber.write_now``), with no task
woken and nothing queued, so an idle socket costs no task and no buffer of ours.  Only a socket that
cannot take a frame now (its client is slow, or it is still replaying) buffers, in a bounded buffer;
a consumer too slow to drain it is cut off with a reason instead of growing memory or stalling
everyone else, and the client reconnects with ``since=<last cursor it got>`` and replays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from websockets.frames import Frame, Opcode

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


class Outgoing:
    """One event as every socket that sees it is sent it: its cursor key, its JSON, and its websocket frame.

    The frame (a final, unmasked, uncompressed text frame, as a server sends) is built on first use and then
    written as is to every live socket: the same bytes for all of them.
    """

    def __init__(self, key: int, text: str) -> None:
        self.key = key
        self.text = text

    @cached_property
    def frame(self) -> bytes:
        return Frame(Opcode.TEXT, self.text.encode()).serialize(mask=False)


@dataclass(eq=False, slots=True)
class Subscriber:
    """One websocket's view: what it wants, and a bounded buffer of events it could not be sent yet.

    Pull (``drain``, the chat socket): a list plus one wake-up event rather than an asyncio.Queue, so
    overflow, closing or revocation wake the reader through the same event.  Push (the agent socket, once
    live): ``write_now`` writes an event's frame at once when the connection can take it, ``wake`` is
    called when anything else needs attention (something buffered, an ending); ``sent`` is the key of the
    last event handed to the connection, which is where a cut-off client resumes.

    ``scope`` is set for a user's socket: access events in the log re-scope it
    (queues, role) or revoke it, at their place in the log.
    """

    queues: set[str] | None
    users: set[str]
    role: str | None
    capacity: int
    scope: Scope | None = None
    #: Slots, a list and no wake-up event until a reader pulls: thousands of idle sockets each hold one of these.
    buffer: list[Outgoing] = field(default_factory=list)
    ready: asyncio.Event | None = None
    overflowed: bool = False
    closed: bool = False
    #: Signed out (token revoked, password changed, user disabled): the socket closes with 4401.
    revoked: bool = False
    write_now: Callable[[bytes], bool] | None = None
    wake: Callable[[], None] | None = None
    #: Whoever drains the buffer is sending: nothing may overtake it by a direct write meanwhile.
    flushing: bool = False
    sent: int = 0

    def push(self, out: Outgoing) -> None:
        if self.overflowed or self.closed or out.key <= self.sent:
            return  # at or before ``sent``: the replay, which reads ahead of the hub, sent it already
        if self.write_now is not None and not self.buffer and not self.flushing and self.write_now(out.frame):
            self.sent = out.key
            return
        if len(self.buffer) >= self.capacity:
            self.overflowed = True
            self.buffer.clear()
        else:
            self.buffer.append(out)
        self._notify()

    def _notify(self) -> None:
        if self.ready is not None:
            self.ready.set()
        if self.wake is not None:
            self.wake()

    def close(self) -> None:
        self.closed = True
        self._notify()

    def revoke(self) -> None:
        self.revoked = True
        self.buffer.clear()
        self.close()

    def take(self) -> list[Outgoing]:
        """What is buffered, leaving the buffer empty."""
        items, self.buffer = self.buffer, []
        return items

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

    async def drain(self) -> list[Outgoing]:
        """Waits for something to happen; returns what is buffered (empty on overflow or close)."""
        if self.ready is None:
            self.ready = asyncio.Event()
            if self.buffer or self.closed or self.overflowed:
                self.ready.set()
        await self.ready.wait()
        self.ready.clear()
        return self.take()


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
            out: Outgoing | None = None
            for sub in self.subscribers:
                if event.concerns(sub.queues, sub.users, sub.role):
                    out = out or Outgoing(cursor_key(event.id), wire(event))
                    sub.push(out)
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
