"""LiveStore: the SQL store of record with Redis as the live layer, for several processes.

Everything that must survive stays in SQL (``SqlStore``, the record): queues, users, interactions, the event
log, durable maps (routing config, SMS threads, chat tokens, pending voicemails) and remembered values.  Webhook
de-duplication (``remember``/``recall``/``take``) stays in SQL on purpose: a Redis restart must not let a
retried webhook be stored twice.

Redis holds only what is live and may be lost:

* ``lease:<name>``   one owner at a time (dispatcher, relay, maintenance), by SET PX and a compare script;
* ``map:<name>``     hashes for the live maps: presence choices, console connections, routing recency;
* ``events``         a Stream of the committed events, id ``0-<sql id>`` so stream id and cursor map 1:1,
  trimmed approximately to ``max_events``; each entry carries ``p``, the id of the event before it;
* ``relay:wake``     a one-item list committers push to, so the relay need not poll.

The relay (``relay_forever``, run by every process; only the holder of lease
"relay" works) copies events from SQL to the stream in cursor order.  It
resumes from the stream's top or, when the stream is empty (Redis restarted),
from the ``meta`` row it writes at most once a second, so a Redis that comes
back empty is refilled from SQL without copying the whole retained log.
Followers (``wait_events``) read the stream; an entry whose ``p`` is beyond
the follower's cursor means the stream lost events the follower has not seen
(trimmed, or Redis restarted), and that page is read from SQL instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select

from ..errors import StoreUnavailable
from ..events import Cursor, Event, EventPage, cursor_key
from .sql import SqlStore
from .sql import schema as t
from .sql.log import parse
from .sql.upsert import upsert

log = logging.getLogger("sessions.stores.live")
P = ParamSpec("P")
R = TypeVar("R")

#: Map names whose values are live state, not records: kept in Redis.
LIVE_MAPS = frozenset({"presence", "connections", "routed", "nodes", "call_homes"})
DEFAULT_MAX_EVENTS = 100_000
RELAY_POSITION = "relay.position"
#: Seconds the relay lease lasts unless renewed (the holder renews at least every RELAY_WAIT).  Short, because
#: no event reaches any console while a dead holder's lease runs out: a killed process costs at most
#: RELAY_TTL + RELAY_WAIT of fan-out (a call taken over is announced after it).  Two relays overlapping after a
#: stall are harmless: the relay script appends an event only right after the one before it.
RELAY_TTL = 1.5
#: Longest the relay sleeps without a wake-up, and how often the others try for the lease.
RELAY_WAIT = 0.5
RELAY_BATCH = 500
#: Seconds a Redis read may take: well above the longest blocking read (the hub waits up to 5 s on the stream).
READ_TIMEOUT = 30.0
#: Seconds between the relay's notes of its position in SQL.
RELAY_RECORD_INTERVAL = 1.0

# KEYS: 1 lease; ARGV: 1 owner, 2 ttl ms.  Takes a free lease or renews one's own.
LEASE = """
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: 1 stream; ARGV: 1 max length, then (id, previous id, body) per event.
# An id not above the stream's top (another relay got there first) is skipped, not an error.
RELAY = """
local added = 0
for i = 2, #ARGV, 3 do
  local r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. ARGV[i], 'p', ARGV[i + 1], 'e', ARGV[i + 2])
  if type(r) ~= 'table' or not r.err then
    added = added + 1
  end
end
return added
"""


def connect(url: str, max_connections: int = 64) -> aioredis.Redis:
    """A client whose callers queue for a bounded pool; retries ride over a restart of the server.

    (With an explicit pool the retry policy belongs to its connections, so it is given to the pool.)
    The read timeout is set, not left to redis-py: its default became 5 s (redis-py 8), the length of the hub's
    blocking read of the event stream, so every quiet stretch of the log timed out, was retried three times and
    marked every process unready (503 on /readyz: a balancer then served nothing).  A ``socket_timeout`` in the URL
    still wins.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=10,
        socket_timeout=READ_TIMEOUT,
        socket_connect_timeout=5,
        decode_responses=True,
        health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis(connection_pool=pool)


def raise_if_cancelling() -> None:
    """Re-raises a cancellation that a client library swallowed or turned into an error of its own.

    Seen here: SQLAlchemy's asyncpg adapter reports a query cut off by cancellation as InterfaceError
    (so StoreUnavailable), and now and then a cancelled call simply returns.  A loop that runs until
    cancelled and retries on errors would otherwise outlive its cancellation and hang the shutdown, so
    such loops call this at the top of every round and before retrying."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def live_layer(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Redis out of reach (refused, dropped, timing out) surfaces as StoreUnavailable, as a database outage does:
    callers above the store handle one outage (503 and retry; the hub waits and resumes) and never import redis."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis: {exc}") from exc

    return guarded


def _committing(name: str) -> Callable[..., Awaitable[Any]]:
    """A LiveStore method that has the SqlStore commit (rows and their events in one transaction), then wakes the
    relay, so the events fan out at once rather than at the relay's next poll."""

    async def write(self: LiveStore, *args: Any, **kwargs: Any) -> Any:
        result = await getattr(self.sql, name)(*args, **kwargs)
        await self._wake()
        return result

    write.__name__ = write.__qualname__ = name
    return write


class LiveStore:
    """The ``Store`` protocol: SQL for the record, Redis for leases, live maps and event fan-out.

    Anything not defined here (history search, timers, figures, pruning) is the SqlStore's.
    """

    def __init__(
        self,
        sql: SqlStore,
        redis: aioredis.Redis | str,
        *,
        prefix: str = "switchboard",
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self.sql = sql
        self.redis = connect(redis) if isinstance(redis, str) else redis
        self.prefix = prefix
        self.max_events = max_events
        self._lease_script = self.redis.register_script(LEASE)
        self._release_script = self.redis.register_script(RELEASE)
        self._relay_script = self.redis.register_script(RELAY)
        self._recorded_at = -RELAY_RECORD_INTERVAL

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not found here: the record's own methods and attributes (db, prune_events, ...).
        if name == "sql":
            raise AttributeError(name)
        return getattr(self.sql, name)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def ping(self) -> bool:
        """The record's health: Redis being down must not make the record look down (see ``ping_live``)."""
        return await self.sql.ping()

    async def ping_live(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()
        await self.sql.close()

    # -- changes: committed in SQL, then the relay is woken ------------------------

    # Every write that commits events (rows and events in one SQL transaction), then a nudge to the relay.
    insert = _committing("insert")
    update = _committing("update")
    update_pair = _committing("update_pair")
    publish = _committing("publish")
    put_queue = _committing("put_queue")
    put_user = _committing("put_user")
    add_direct_message = _committing("add_direct_message")
    record_evaluation = _committing("record_evaluation")

    async def read_direct_thread(self, thread_id: str, user_id: str, at: datetime) -> Event | None:
        event = await self.sql.read_direct_thread(thread_id, user_id, at)
        if event is not None:
            await self._wake()
        return event

    async def _wake(self) -> None:
        """Tells the relay there is something to copy.  Best effort: the change is committed, and the
        relay looks at SQL at least every ``RELAY_WAIT`` seconds anyway, so Redis being down costs latency only."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(self.key("relay", "wake"), 1)
                pipe.ltrim(self.key("relay", "wake"), 0, 0)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("could not wake the relay (%s); it finds the event within %.0f s", exc, RELAY_WAIT)

    # -- maps: live ones in Redis, the rest in SQL ----------------------------------

    @live_layer
    async def map_set(self, name: str, key: str, value: str) -> None:
        if name in LIVE_MAPS:
            await self.redis.hset(self.key("map", name), key, value)
        else:
            await self.sql.map_set(name, key, value)

    @live_layer
    async def map_get(self, name: str, key: str) -> str | None:
        if name in LIVE_MAPS:
            return await self.redis.hget(self.key("map", name), key)
        return await self.sql.map_get(name, key)

    @live_layer
    async def map_all(self, name: str) -> dict[str, str]:
        if name in LIVE_MAPS:
            return await self.redis.hgetall(self.key("map", name))
        return await self.sql.map_all(name)

    @live_layer
    async def map_delete(self, name: str, *keys: str) -> None:
        if not keys:
            return
        if name in LIVE_MAPS:
            await self.redis.hdel(self.key("map", name), *keys)
        else:
            await self.sql.map_delete(name, *keys)

    # -- leases ----------------------------------------------------------------------

    @live_layer
    async def lease(self, name: str, owner: str, ttl: float) -> bool:
        return bool(await self._lease_script(keys=[self.key("lease", name)], args=[owner, max(1, int(ttl * 1000))]))

    @live_layer
    async def release(self, name: str, owner: str) -> None:
        await self._release_script(keys=[self.key("lease", name)], args=[owner])

    # -- the event log: SQL is the log, the stream its recent copy for fan-out --------

    async def events_since(
        self,
        cursor: Cursor | None,
        *,
        queues: set[str] | None = None,
        users: set[str] | None = None,
        role: str | None = None,
        limit: int = 500,
    ) -> EventPage:
        # Replay reads the record (an indexed range of the primary key): resumes from anywhere it keeps.
        return await self.sql.events_since(cursor, queues=queues, users=users, role=role, limit=limit)

    async def last_cursor(self) -> Cursor | None:
        return await self.sql.last_cursor()

    @live_layer
    async def wait_events(self, after: Cursor | None, timeout: float, limit: int = 500) -> list[Event]:
        """Events after ``after`` from the stream, waiting up to ``timeout`` for the relay to add one.

        If the first entry read follows an event the follower has not seen (its ``p`` is beyond
        ``after``: the stream was trimmed or refilled after a Redis restart), the page comes from SQL.
        """
        start = cursor_key(after) if after is not None else int(await self.sql.last_cursor() or 0)
        reply = await self.redis.xread(
            {self.key("events"): f"0-{start}"}, count=limit, block=max(1, int(timeout * 1000))
        )
        entries = reply[0][1] if reply else []
        if not entries:
            return []
        if int(entries[0][1]["p"]) > start:
            return await self.sql._rows_after(start, limit)
        return [parse(int(eid.split("-", 1)[1]), fields["e"]) for eid, fields in entries]

    async def relay_position(self) -> int:
        """Where the relay resumes: the stream's top, or (the stream being empty after a Redis restart)
        the position last recorded in SQL, so the whole retained log is not copied again."""
        top = await self.redis.xrevrange(self.key("events"), count=1)
        if top:
            return int(top[0][0].split("-", 1)[1])
        async with self.sql.db.read() as conn:
            recorded = (await conn.execute(select(t.meta.c.value).where(t.meta.c.key == RELAY_POSITION))).scalar()
        return int(recorded or 0)

    @live_layer
    async def relay_once(self, batch: int = RELAY_BATCH) -> int:
        """Copies every event committed after the relay's position to the stream; returns how many were read."""
        position = await self.relay_position()
        total = 0
        while True:
            async with self.sql.db.read() as conn:
                stmt = (
                    select(t.events.c.id, t.events.c.body)
                    .where(t.events.c.id > position)
                    .order_by(t.events.c.id)
                    .limit(batch)
                )
                rows = (await conn.execute(stmt)).all()
            if not rows:
                return total
            args: list[Any] = [self.max_events]
            previous = position
            for row_id, body in rows:
                args += [row_id, previous, body]
                previous = row_id
            await self._relay_script(keys=[self.key("events")], args=args)
            position = rows[-1][0]
            await self._record_position(position)
            total += len(rows)
            if len(rows) < batch:
                return total

    async def _record_position(self, position: int) -> None:
        """Notes the position in SQL at most once per ``RELAY_RECORD_INTERVAL``, not a write per event.
        A position that lags only makes a relay after a Redis restart copy a few events again; a
        follower that has them already reads past them (XREAD after its cursor)."""
        now = time.monotonic()
        if now - self._recorded_at < RELAY_RECORD_INTERVAL:
            return
        async with self.sql.db.write() as conn:
            await conn.execute(
                upsert(self.sql.db.dialect, t.meta, {"key": RELAY_POSITION, "value": str(position)}, ["key"])
            )
        self._recorded_at = now

    async def relay_step(self, owner: str) -> bool:
        """Relays what is pending if ``owner`` holds (or takes) lease "relay"; False if another process does."""
        if not await self.lease("relay", owner, RELAY_TTL):
            return False
        await self.relay_once()
        return True

    async def relay_forever(self, owner: str) -> None:
        """Runs in every process; the holder of lease "relay" copies events to the stream as they commit."""
        try:
            while True:
                raise_if_cancelling()
                try:
                    if await self.relay_step(owner):
                        # Woken by a committer, or after RELAY_WAIT seconds to renew the lease and look anyway.
                        await self.redis.blpop([self.key("relay", "wake")], timeout=RELAY_WAIT)
                        continue
                except asyncio.CancelledError:
                    raise
                except (RedisError, OSError, StoreUnavailable) as exc:
                    raise_if_cancelling()
                    log.warning("relay: store unavailable (%s); retrying", exc)
                except Exception:
                    raise_if_cancelling()
                    log.exception("relay failed; retrying")
                await asyncio.sleep(RELAY_WAIT)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await self.release("relay", owner)
