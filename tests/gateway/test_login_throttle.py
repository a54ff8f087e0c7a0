"""Login throttling: growing waits per account and per address, never a permanent lock-out."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from limits.aio.storage import MemoryStorage

from gateway.login_throttle import LoginThrottle, Throttled, storage_for
from sessions.errors import StoreUnavailable
from tests.conftest import REDIS_URL


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Wall-clock time as the rate-limit windows see it, moved by the test."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


async def fail(throttle: LoginThrottle, times: int, user: str = "alice", address: str = "10.0.0.1") -> None:
    """Failed attempts: counted, and not cleared by a success."""
    for _ in range(times):
        await throttle.attempt(user, address)


async def wait_asked(throttle: LoginThrottle, user: str = "alice", address: str = "10.0.0.1") -> int:
    with pytest.raises(Throttled) as throttled:
        await throttle.attempt(user, address)
    return throttled.value.retry_after


async def test_waits_grow_with_failures_and_always_end(clock: list[float]):
    throttle = LoginThrottle(MemoryStorage())
    waits, failures = [], 0
    while failures < 20:  # an attacker who waits out every throttle, as fast as allowed
        try:
            await fail(throttle, 1)
            failures += 1
        except Throttled as throttled:
            waits.append(throttled.retry_after)
            clock[0] += throttled.retry_after + 1
    last = await wait_asked(throttle)
    assert 0 < waits[0] <= 60, "a few failures cost a minute"
    assert 15 * 60 < last <= 3600 and last == max(waits + [last]), "many cost up to an hour"
    clock[0] += last + 1
    await throttle.attempt("alice", "10.0.0.1")  # the windows expired: a correct password gets through again


async def test_concurrent_guesses_are_counted_before_any_is_checked(clock: list[float]):
    throttle = LoginThrottle(MemoryStorage())
    results = await asyncio.gather(*(throttle.attempt("alice", "10.0.0.1") for _ in range(60)), return_exceptions=True)
    assert sum(r is None for r in results) == 5 and all(isinstance(r, Throttled) for r in results if r is not None)


async def test_attempts_refused_while_throttled_do_not_lengthen_the_wait(clock: list[float]):
    throttle = LoginThrottle(MemoryStorage())
    await fail(throttle, 5)
    for _ in range(50):
        await wait_asked(throttle)
    clock[0] += 61
    await fail(throttle, 5)  # the minute passed: five more, as if the refused fifty never happened


async def test_the_account_is_throttled_from_any_address_and_by_any_case(clock: list[float]):
    throttle = LoginThrottle(MemoryStorage())
    await fail(throttle, 5, user="Alice", address="10.0.0.1")
    assert await wait_asked(throttle, user="alice", address="10.9.9.9") > 0


async def test_one_address_guessing_many_accounts_is_throttled(clock: list[float]):
    throttle = LoginThrottle(MemoryStorage())
    for i in range(60):
        await fail(throttle, 1, user=f"user{i}")
    assert await wait_asked(throttle, user="someone-else") > 0
    await throttle.attempt("someone-else", "10.0.0.2")  # other addresses are unaffected


async def test_clearing_lifts_the_accounts_throttle(clock: list[float]):
    throttle = LoginThrottle(MemoryStorage())
    await fail(throttle, 5)
    await throttle.clear("alice")
    await throttle.attempt("alice", "10.0.0.1")


async def test_counts_are_shared_through_redis():
    prefix = f"test:throttle:{time.monotonic_ns()}"
    one, two = LoginThrottle(storage_for(REDIS_URL, prefix)), LoginThrottle(storage_for(REDIS_URL, prefix))
    await one.clear("alice")
    await fail(one, 5)
    assert await wait_asked(two) > 0, "a second process sees the first one's failures"
    await two.clear("alice")
    await one.attempt("alice", None)


async def test_counts_out_of_reach_are_a_store_outage():
    """Redis down: a login can be neither counted nor let through uncounted; it is refused as the store being down."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    throttle = LoginThrottle(storage_for(f"redis://127.0.0.1:{port}/0", "test:throttle"))
    with pytest.raises(StoreUnavailable):
        await throttle.attempt("alice", "10.0.0.1")
    with pytest.raises(StoreUnavailable):
        await throttle.clear("alice")
