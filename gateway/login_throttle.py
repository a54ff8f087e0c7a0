"""Login throttling: login attempts per account and per client address, shared across processes.

Counting is the ``limits`` library's (fixed windows that open at the first counted attempt; Redis
storage when the gateway runs on Redis, so every process sees the same counts, and in-process memory
otherwise).  An attempt is counted *before* its password is checked, in one atomic step per window,
so a burst of concurrent guesses cannot all pass a check that none of them has been counted against
yet.  Each key has tiers of growing windows: a few attempts cost a minute, many cost up to an hour,
and windows always expire, so a correct password is never locked out for good.  A successful login
clears its account's count (so for real users only failures accumulate); an admin can clear it too.

The address tiers count every attempt and are much wider than the account tiers: a contact
center's agents often share one public address and log in together at the start of a shift.
Behind a proxy, the address is the one uvicorn's ``--proxy-headers``/``FORWARDED_ALLOW_IPS`` trusts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from sessions.errors import StoreUnavailable

#: Attempts allowed per account (cleared by a success): 5 a minute, then 10 in 15 minutes, then 20 an hour.
ACCOUNT_LIMITS: list[RateLimitItem] = parse_many("5/minute;10/15 minutes;20/hour")
#: Attempts allowed per client address, successes included.
ADDRESS_LIMITS: list[RateLimitItem] = parse_many("60/minute;1000/hour")


class Throttled(Exception):
    """Too many failed logins: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; try again in {retry_after} s.")
        self.retry_after = retry_after


def storage_for(redis_url: str | None, prefix: str) -> Storage:
    if redis_url:
        # Its errors wrapped in StorageError, so an outage is told apart here without the gateway importing redis.
        return RedisStorage(
            f"async+{redis_url}", implementation="redispy", key_prefix=f"{prefix}:limits", wrap_exceptions=True
        )
    return MemoryStorage()


@contextmanager
def _counts_reachable() -> Iterator[None]:
    """Counts out of reach (Redis down) are the store being unavailable: 503 and retry, as for any other store."""
    try:
        yield
    except StorageError as exc:
        raise StoreUnavailable(f"login throttle: {exc}") from exc


class LoginThrottle:
    def __init__(self, storage: Storage) -> None:
        self.limiter = FixedWindowRateLimiter(storage)

    def _keys(self, username: str, address: str | None) -> list[tuple[RateLimitItem, str, str]]:
        keys = [(item, "address", address) for item in ADDRESS_LIMITS] if address else []
        return keys + [(item, "account", username.lower()) for item in ACCOUNT_LIMITS]

    async def attempt(self, username: str, address: str | None) -> None:
        """Counts one login attempt, or raises Throttled (with the wait) if a tier is used up.

        Tiers are counted in order and counting stops at the first that refuses, so attempts made
        while throttled do not pile up in the longer windows.
        """
        keys = self._keys(username, address)
        with _counts_reachable():
            for item, kind, key in keys:
                if not await self.limiter.hit(item, kind, key):
                    raise Throttled(await self._wait(keys))

    async def _wait(self, keys: list[tuple[RateLimitItem, str, str]]) -> int:
        """Seconds until every used-up tier has a free slot again: the longest wait, not the first found."""
        resets = [
            (await self.limiter.get_window_stats(item, kind, key)).reset_time
            for item, kind, key in keys
            if not await self.limiter.test(item, kind, key)
        ]
        return max(1, math.ceil(max(resets, default=time.time()) - time.time()))

    async def clear(self, username: str) -> None:
        """Forgets the account's attempts (a successful login, or an admin)."""
        with _counts_reachable():
            for item in ACCOUNT_LIMITS:
                await self.limiter.clear(item, "account", username.lower())
