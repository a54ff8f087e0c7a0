"""Login throttling: failed passwords per account and per client address, shared across processes.

Counting is the ``limits`` library's (moving windows; Redis storage when the gateway runs on
Redis, so every process sees the same counts, and in-process memory otherwise).  Only failures
are counted, and each key has tiers of growing windows: a few failures cost a minute, many cost
up to an hour, and the windows always expire, so a correct password is never locked out for good.
A successful login clears the account's count; an admin can clear it too.

The address tiers are wider than the account tiers because a contact center's agents often
share one public address.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

#: Failures allowed per account: 5 a minute, then 10 in 15 minutes, then 20 an hour.
ACCOUNT_LIMITS: list[RateLimitItem] = parse_many("5/minute;10/15 minutes;20/hour")
#: Failures allowed per client address.
ADDRESS_LIMITS: list[RateLimitItem] = parse_many("30/minute;100/hour")


class Throttled(Exception):
    """Too many failed logins: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; try again in {retry_after} s.")
        self.retry_after = retry_after


def storage_for(redis_url: str | None, prefix: str) -> Storage:
    if redis_url:
        return RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix=f"{prefix}:limits")
    return MemoryStorage()


class LoginThrottle:
    def __init__(self, storage: Storage) -> None:
        self.limiter = MovingWindowRateLimiter(storage)

    def _keys(self, username: str, address: str | None) -> list[tuple[RateLimitItem, str, str]]:
        keys = [(item, "account", username.lower()) for item in ACCOUNT_LIMITS]
        if address:
            keys += [(item, "address", address) for item in ADDRESS_LIMITS]
        return keys

    async def check(self, username: str, address: str | None) -> None:
        """Raises Throttled while the account or the address has used up a tier, with the longest wait."""
        wait = 0.0
        for item, kind, key in self._keys(username, address):
            if not await self.limiter.test(item, kind, key):
                stats = await self.limiter.get_window_stats(item, kind, key)
                wait = max(wait, stats.reset_time - time.time())
        if wait > 0:
            raise Throttled(max(1, math.ceil(wait)))

    async def failed(self, username: str, address: str | None) -> None:
        for item, kind, key in self._keys(username, address):
            await self.limiter.hit(item, kind, key)

    async def clear(self, username: str) -> None:
        """Forgets the account's failures (a successful login, or an admin)."""
        for item, kind, key in self._keys(username, None):
            await self.limiter.clear(item, kind, key)
