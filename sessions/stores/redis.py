"""The shared store: state in Redis hashes, the event log in a Redis Stream.

One Lua script commits a change: it compares the stored version, writes the
interaction, moves it between listing indexes and XADDs the event, all in one
atomic step on the server.  Two gateway processes racing on one interaction
therefore see exactly one commit succeed; the other re-reads and re-decides
(see ``BaseStore.update``).  Compared with WATCH/MULTI this holds no
connection across the decide step and costs one round trip to write.

Keys, under a configurable prefix (tests take one each):

* ``ix:<id>``        hash {v: version, doc: interaction JSON}
* ``idx:<name>``     sorted sets: ``active:<queue>``, ``active:*``, ``completed:<queue>``
* ``events``         stream of ``{e: event JSON}``; the stream id is the cursor
* ``events:trimmed`` the id of the last event trimmed away (to detect expired cursors)
* ``queue:<id>``, ``queues``; ``user:<id>``, ``users``, ``username:<name>``
* ``map:<name>`` hashes (routing config, presence, connections); ``lease:<name>``; ``remember:<key>`` (dedupe, with TTL)
* ``password:<user>``; ``token:<digest>`` -> user id, ``tokens:<user>`` set of digests
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import AlreadyExists, CursorExpired, NotFound
from ..events import Cursor, Event, EventPage, cursor_key
from ..model import Interaction, Queue, State, User
from .base import BaseStore, index_changes

DEFAULT_MAX_EVENTS = 100_000
#: Trim in batches of this many so the XRANGE that finds the cut runs rarely.
TRIM_SLACK = 1_000

# Appends an event, trimming the oldest in batches and remembering the last one trimmed,
# so a cursor older than the log is told apart from one that is merely at its start.
APPEND_FUNCTION = """
local function append(stream, trimmed, event, maxlen, slack)
  local id = redis.call('XADD', stream, '*', 'e', event)
  local len = redis.call('XLEN', stream)
  if len > maxlen + slack then
    local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', len - maxlen + 1)
    redis.call('SET', trimmed, old[#old - 1][1])
    redis.call('XTRIM', stream, 'MINID', old[#old][1])
  end
  return id
end
"""

# KEYS: 1 stream, 2 trimmed marker; ARGV: 1 event, 2 max events, 3 trim slack
APPEND = APPEND_FUNCTION + """
return append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
"""

# KEYS: 1 lease; ARGV: 1 owner, 2 ttl ms. Takes a free lease or renews one's own.
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

# KEYS: 1 ix hash, 2 stream, 3 trimmed marker, 4.. index zsets
# ARGV: 1 expected version (0 = must not exist), 2 new version, 3 doc, 4 event,
#       5 member id, 6 max events, 7 trim slack, 8.. per index: score, or "-" to remove
COMMIT = APPEND_FUNCTION + """
local current = redis.call('HGET', KEYS[1], 'v') or '0'
if current ~= ARGV[1] then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
for i = 4, #KEYS do
  local op = ARGV[i + 4]
  if op == '-' then
    redis.call('ZREM', KEYS[i], ARGV[5])
  else
    redis.call('ZADD', KEYS[i], op, ARGV[5])
  end
end
return {1, append(KEYS[2], KEYS[3], ARGV[4], tonumber(ARGV[6]), tonumber(ARGV[7]))}
"""

PUT_USER = """
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[1] then
  return 0
end
if ARGV[3] ~= '' and ARGV[3] ~= ARGV[2] then
  redis.call('DEL', KEYS[4])
end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""


class RedisStore(BaseStore):
    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "switchboard", max_events: int = DEFAULT_MAX_EVENTS, trim_slack: int = TRIM_SLACK, client: aioredis.Redis | None = None, max_connections: int = 64) -> None:
        # A bounded pool that makes callers wait for a free connection (a burst of requests queues, it does
        # not fail); retries ride over a restart of the server, whose old pooled connections fail once.
        # (With an explicit pool the retry policy belongs to its connections, so it is given here.)
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=10, decode_responses=True, health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3), retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.redis = client or aioredis.Redis(connection_pool=pool)
        self.prefix = prefix
        self._max_events = max_events
        self._trim_slack = trim_slack
        self._commit_script = self.redis.register_script(COMMIT)
        self._put_user_script = self.redis.register_script(PUT_USER)
        self._append_script = self.redis.register_script(APPEND)
        self._lease_script = self.redis.register_script(LEASE)
        self._release_script = self.redis.register_script(RELEASE)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()

    async def drop_all(self) -> None:
        """Deletes every key under this store's prefix (tests, resets)."""
        batch: list[str] = []
        async for k in self.redis.scan_iter(match=self.key("*"), count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                await self.redis.delete(*batch)
                batch.clear()
        if batch:
            await self.redis.delete(*batch)

    # -- queues and users ----------------------------------------------------

    async def put_queue(self, queue: Queue) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("queue", queue.id), queue.model_dump_json())
            pipe.sadd(self.key("queues"), queue.id)
            await pipe.execute()

    async def get_queue(self, queue_id: str) -> Queue:
        raw = await self.redis.get(self.key("queue", queue_id))
        if raw is None:
            raise NotFound(f"Queue {queue_id} does not exist.")
        return Queue.model_validate_json(raw)

    async def list_queues(self) -> list[Queue]:
        ids = sorted(await self.redis.smembers(self.key("queues")))
        raws = await self.redis.mget([self.key("queue", i) for i in ids]) if ids else []
        return [Queue.model_validate_json(r) for r in raws if r is not None]

    async def put_user(self, user: User) -> None:
        old_raw = await self.redis.get(self.key("user", user.id))
        old_name = User.model_validate_json(old_raw).username if old_raw else ""
        ok = await self._put_user_script(
            keys=[self.key("user", user.id), self.key("users"), self.key("username", user.username), self.key("username", old_name)],
            args=[user.id, user.username, old_name, user.model_dump_json()],
        )
        if not ok:
            raise AlreadyExists(f"Username {user.username} is taken.")

    async def get_user(self, user_id: str) -> User:
        raw = await self.redis.get(self.key("user", user_id))
        if raw is None:
            raise NotFound(f"User {user_id} does not exist.")
        return User.model_validate_json(raw)

    async def find_user(self, username: str) -> User | None:
        uid = await self.redis.get(self.key("username", username))
        if uid is None:
            return None
        try:
            return await self.get_user(uid)
        except NotFound:
            return None

    async def list_users(self) -> list[User]:
        ids = list(await self.redis.smembers(self.key("users")))
        raws = await self.redis.mget([self.key("user", i) for i in ids]) if ids else []
        return sorted((User.model_validate_json(r) for r in raws if r is not None), key=lambda u: u.username)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.redis.set(self.key("password", user_id), password_hash)

    async def get_password_hash(self, user_id: str) -> str | None:
        return await self.redis.get(self.key("password", user_id))

    async def put_token(self, digest: str, user_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("token", digest), user_id)
            pipe.sadd(self.key("tokens", user_id), digest)
            await pipe.execute()

    async def token_user(self, digest: str) -> str | None:
        return await self.redis.get(self.key("token", digest))

    async def revoke_token(self, digest: str) -> str | None:
        user_id = await self.redis.get(self.key("token", digest))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key("token", digest))
            if user_id:
                pipe.srem(self.key("tokens", user_id), digest)
            await pipe.execute()
        return user_id

    async def revoke_user_tokens(self, user_id: str, keep: str | None = None) -> list[str]:
        # The set is read and emptied in one MULTI: a token issued meanwhile lands in a new set, still valid.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.smembers(self.key("tokens", user_id))
            pipe.delete(self.key("tokens", user_id))
            digests, _ = await pipe.execute()
        gone = sorted(d for d in digests if d != keep)
        async with self.redis.pipeline(transaction=True) as pipe:
            if gone:
                pipe.delete(*(self.key("token", d) for d in gone))
            if keep in digests:
                pipe.sadd(self.key("tokens", user_id), keep)
            await pipe.execute()
        return gone

    # -- interactions ----------------------------------------------------------

    async def get_interaction(self, interaction_id: str) -> Interaction:
        raw = await self.redis.hget(self.key("ix", interaction_id), "doc")
        if raw is None:
            raise NotFound(f"Interaction {interaction_id} does not exist.")
        return Interaction.model_validate_json(raw)

    async def list_interactions(self, queue_id: str | None, state: State, limit: int = 100, offset: int = 0, since: datetime | None = None) -> list[Interaction]:
        index = self.key("idx", f"{state.value}:{queue_id or '*'}")
        floor = repr(since.timestamp()) if since else "-inf"
        if state is State.COMPLETED:
            ids = await self.redis.zrevrangebyscore(index, "+inf", floor, start=offset, num=limit)
        else:
            ids = await self.redis.zrangebyscore(index, floor, "+inf", start=offset, num=limit)
        return await self._load_many(ids)

    async def _load_many(self, ids: Iterable[str]) -> list[Interaction]:
        ids = list(ids)
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hget(self.key("ix", i), "doc")
            raws = await pipe.execute()
        return [Interaction.model_validate_json(r) for r in raws if r is not None]

    async def _commit(self, before: Interaction | None, event: Event) -> Event | None:
        ix = event.interaction
        indexes = index_changes(before, ix)
        ok, value = await self._commit_script(
            keys=[self.key("ix", ix.id), self.key("events"), self.key("events", "trimmed"), *(self.key("idx", n) for n in indexes)],
            args=[
                before.version if before else 0,
                ix.version,
                ix.model_dump_json(),
                event.model_dump_json(exclude={"id"}),
                ix.id,
                self._max_events,
                self._trim_slack,
                *("-" if s is None else repr(s) for s in indexes.values()),
            ],
        )
        if ok:
            return event.model_copy(update={"id": value})
        if before is None:
            raise AlreadyExists(f"Interaction {ix.id} already exists.")
        return None

    # -- maps and leases --------------------------------------------------------

    async def map_set(self, name: str, key: str, value: str) -> None:
        await self.redis.hset(self.key("map", name), key, value)

    async def map_get(self, name: str, key: str) -> str | None:
        return await self.redis.hget(self.key("map", name), key)

    async def map_all(self, name: str) -> dict[str, str]:
        return await self.redis.hgetall(self.key("map", name))

    async def map_delete(self, name: str, *keys: str) -> None:
        if keys:
            await self.redis.hdel(self.key("map", name), *keys)

    async def remember(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self.redis.set(self.key("remember", key), value, nx=True, px=max(1, int(ttl * 1000))))

    async def recall(self, key: str) -> str | None:
        return await self.redis.get(self.key("remember", key))

    async def take(self, key: str) -> str | None:
        return await self.redis.getdel(self.key("remember", key))

    async def lease(self, name: str, owner: str, ttl: float) -> bool:
        return bool(await self._lease_script(keys=[self.key("lease", name)], args=[owner, max(1, int(ttl * 1000))]))

    async def release(self, name: str, owner: str) -> None:
        await self._release_script(keys=[self.key("lease", name)], args=[owner])

    # -- the event log ---------------------------------------------------------

    async def publish(self, event: Event) -> Event:
        eid = await self._append_script(keys=[self.key("events"), self.key("events", "trimmed")], args=[event.model_dump_json(exclude={"id"}), self._max_events, self._trim_slack])
        return event.model_copy(update={"id": eid})

    @staticmethod
    def _parse(entries: list) -> list[Event]:
        return [Event.model_validate_json(fields["e"]).model_copy(update={"id": eid}) for eid, fields in entries]

    async def events_since(self, cursor: Cursor | None, *, queues: set[str] | None = None, users: set[str] | None = None, role: str | None = None, limit: int = 500) -> EventPage:
        if cursor is not None:
            cursor_key(cursor)
        # One MULTI so a trim cannot slip between the expiry check and the read.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.key("events", "trimmed"))
            pipe.xrange(self.key("events"), min=f"({cursor}" if cursor else "-", count=limit)
            trimmed, entries = await pipe.execute()
        if cursor is not None and trimmed is not None and cursor_key(cursor) < cursor_key(trimmed):
            raise CursorExpired(f"Events after {cursor} are no longer kept (the log starts after {trimmed}); reload and resume from the latest cursor.")
        scanned = self._parse(entries)
        return EventPage(
            events=[e for e in scanned if e.concerns(queues, users, role)],
            last=scanned[-1].id if scanned else cursor,
            complete=len(scanned) < limit,
        )

    async def last_cursor(self) -> Cursor | None:
        entries = await self.redis.xrevrange(self.key("events"), count=1)
        return entries[0][0] if entries else None

    async def wait_events(self, after: Cursor | None, timeout: float, limit: int = 500) -> list[Event]:
        if after is not None:
            cursor_key(after)
        reply = await self.redis.xread({self.key("events"): after or "$"}, count=limit, block=max(1, int(timeout * 1000)))
        return self._parse(reply[0][1]) if reply else []
