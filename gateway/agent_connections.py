"""This process's share of agent presence: which consoles are connected here.

Each process records its live connections in the store with an expiry and
refreshes them, so a process that dies stops counting its agents as online
within ``ttl`` seconds, and the other processes see the same truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from sessions import Sessions
from sessions.errors import StoreUnavailable
from sessions.model import User

log = logging.getLogger("gateway.agent_connections")


class Presence:
    def __init__(self, sessions: Sessions, node: str, ttl: float = 30.0) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.node = node
        self.local: Counter[str] = Counter()
        self.users: dict[str, User] = {}

    async def joined(self, user: User) -> None:
        """One more socket of ``user``; if recording the first one fails, the count is as before (then raises)."""
        self.local[user.id] += 1
        self.users[user.id] = user
        if self.local[user.id] == 1:
            try:
                await self.sessions.connected(user.id, self.node, self.ttl)
                await self.sessions.announce_presence(user)
            except BaseException:
                self.local[user.id] -= 1
                if self.local[user.id] <= 0:
                    del self.local[user.id]
                    self.users.pop(user.id, None)
                raise

    async def left(self, user_id: str) -> None:
        """One socket of ``user_id`` closed (by id: a socket keeps no User of its own, see gateway/ws_agent.py)."""
        self.local[user_id] -= 1
        if self.local[user_id] <= 0:
            del self.local[user_id]
            user = self.users.pop(user_id, None)
            try:
                await self.sessions.disconnected(user_id, self.node)
                if user is not None:
                    await self.sessions.announce_presence(user)
            except (StoreUnavailable, OSError) as exc:  # the store may be down; the entry then expires by itself
                log.warning("could not record %s leaving (%s)", user_id, exc)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                for user_id in list(self.local):
                    await self.sessions.connected(user_id, self.node, self.ttl)
            except (StoreUnavailable, OSError) as exc:
                log.warning("presence refresh failed (%s); retrying", exc)
