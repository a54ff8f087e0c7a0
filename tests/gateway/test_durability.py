"""Durability: what a crash, a Redis restart or a database outage does to acknowledged work (issue 14).

Twilio delivers at least once and retries whatever was not acknowledged, so
the promise is: every webhook answered 2xx is stored exactly once, whatever
happens to the process or the database afterwards, and re-sending any
webhook never stores it twice.  While the database is down or read-only the
answer is 503 with a JSON error and Retry-After (Twilio retries later), never
another 5xx; once it is back, the gateway serves again without a restart.
Real processes throughout: ``python -m gateway``, killed with SIGKILL, on a
PostgreSQL and a Redis of the test's own that are stopped and started.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from gateway import credentials
from tests.databases import POSTGRES_URL, drop_postgres_database, new_postgres_database
from tests.gateway.sms_burst import (
    DEADLINE,
    NUMBER,
    ROUTING,
    Burst,
    Listener,
    assert_clean_log,
    assert_each_stored_once,
    assert_unavailable,
    errors_logged,
    eventually,
    listening,
    login,
    send_text,
    set_up_center,
    stored_provider_ids,
    text_params,
    texts,
    twilio_env,
)
from tests.processes import GatewayProcess, PrivatePostgres, gateway_process, private_postgres, private_redis


async def test_sigkill_mid_burst_on_sqlite_loses_no_acknowledged_text_and_forgets_nothing(tmp_path: Path):
    """The default gateway (SQLite in its data dir, nothing else set) killed mid-burst, restarted on the same
    directory."""
    env = twilio_env(str(tmp_path))
    items = texts("K", 200, senders=80)  # new conversations open all through the burst, so the kill can cut one open
    burst = Burst(lambda: [first.url])
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        with gateway_process(env) as first:
            admin = {"Authorization": f"Bearer {credentials.read_token(tmp_path)}"}  # the token the first start wrote
            await set_up_center(http, first.url, admin)

            async def kill_mid_burst() -> None:
                await burst.until(lambda: len(burst.acked) >= 60, "60 texts acknowledged")
                first.proc.kill()  # SIGKILL: no shutdown, no flush, requests in flight cut off

            await asyncio.gather(burst.run(items), kill_mid_burst())
            first.proc.wait(10)
        assert set(burst.statuses) == {200}, burst.statuses
        assert burst.unanswered > 0 and len(burst.acked) < len(items), (
            "the kill landed after the burst: nothing was tested"
        )

        with gateway_process(env) as second:
            assert credentials.read_token(tmp_path) == admin["Authorization"].split()[1], (
                "a restart minted another admin token"
            )
            assert (await http.get(f"{second.url}/api/me", headers=admin)).json()["username"] == "admin"
            queue = (await http.get(f"{second.url}/api/queues/sales", headers=admin)).json()
            assert queue["settings"]["phone_number"] == NUMBER
            assert (await http.get(f"{second.url}/api/routing", headers=admin)).json() == ROUTING
            assert [u["username"] for u in (await http.get(f"{second.url}/api/users", headers=admin)).json()].count(
                "alice"
            ) == 1
            await login(http, second.url)  # her password hash is back too

            await assert_each_stored_once(http, second.url, admin, burst.acked)
            # Twilio retries everything: what was acknowledged (remembered in SQL) and what was cut off.
            retries = Burst(lambda: [second.url])
            await retries.run(items)
            assert retries.acked == {p["MessageSid"] for p in items}, retries.statuses
            stored = await stored_provider_ids(http, second.url, admin)
            assert set(stored) == retries.acked and set(stored.values()) == {1}, Counter(stored.values())
        assert_clean_log(second)


@dataclass
class Cluster:
    """Two gateway processes on a PostgreSQL and a Redis of the test's own, both of which the test restarts."""

    postgres: PrivatePostgres
    stop_redis: Callable[[], None]
    start_redis: Callable[[], None]
    a: GatewayProcess
    b: GatewayProcess
    admin: dict[str, str]


@contextmanager
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="durability-") as scratch:
        redis_dir, data_dir = os.path.join(scratch, "redis"), os.path.join(scratch, "data")
        os.mkdir(redis_dir)
        with private_postgres() as pg, private_redis(redis_dir) as (redis_port, stop_redis, start_redis):
            token = "durability-admin-token"
            env = twilio_env(
                data_dir,
                GATEWAY_DATABASE_URL=pg.url,
                GATEWAY_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
                GATEWAY_ADMIN_TOKEN=token,
            )
            with (
                gateway_process(env) as a,
                gateway_process(env) as b,
            ):  # one after the other: A migrates, B finds it done
                yield Cluster(pg, stop_redis, start_redis, a, b, {"Authorization": f"Bearer {token}"})
            assert_clean_log(a, b)


async def assert_fan_out(http: httpx.AsyncClient, c: Cluster, listener: Listener, sid: str) -> None:
    """A text arriving through A reaches the agent socket on B that stayed open through the outage, and a new one."""
    phone = f"+1415556{sid[-4:]}"
    async with listening(http, c.b) as fresh:
        assert (await send_text(http, c.a.url, text_params(sid, phone))).status_code == 200
        await fresh.hears_from(phone)
        await listener.hears_from(phone)


async def test_redis_restarted_mid_burst_loses_nothing_and_fan_out_resumes():
    """Redis is the live layer only: with it stopped mid-burst, texts are still stored (the record is in SQL) or refused
    with 503."""
    async with center_under_burst() as (c, burst, http):

        async def restart_redis() -> None:
            await burst.until(lambda: len(burst.acked) >= 40, "40 texts acknowledged")
            await asyncio.to_thread(c.stop_redis)
            answered = sum(burst.statuses.values())
            await burst.until(lambda: sum(burst.statuses.values()) >= answered + 40, "40 answers while Redis was down")
            for gp in (c.a, c.b):  # logins are throttled through Redis: refused with 503 while it is down, or served
                r = await http.post(f"{gp.url}/api/auth/login", json={"username": "alice", "password": "correct horse"})
                if r.status_code != 200:
                    assert_unavailable(r)
            await asyncio.to_thread(c.start_redis)

        items = texts("R", 150)
        async with listening(http, c.b) as listener:
            await through_outage(c, burst, items, restart_redis)
            await assert_each_stored_once(http, c.b.url, c.admin, burst.acked)
            for gp in (c.a, c.b):
                await eventually(lambda gp=gp: _ready(http, gp), f"{gp.url}/readyz is 200 again")
            await assert_fan_out(http, c, listener, "SMR0001")


@asynccontextmanager
async def center_under_burst() -> AsyncIterator[tuple[Cluster, Burst, httpx.AsyncClient]]:
    """Two gateways on one database and one Redis, a contact center set up on them, and a burst of texts for either."""
    with cluster() as c:
        async with httpx.AsyncClient(timeout=DEADLINE) as http:
            await set_up_center(http, c.a.url, c.admin)
            yield c, Burst(lambda: [c.a.url, c.b.url], retry_unavailable=True), http


async def through_outage(
    c: Cluster, burst: Burst, items: list[dict[str, str]], outage: Callable[[], Awaitable[None]]
) -> None:
    """Sends the burst while ``outage`` stops and restarts a server: every text is acknowledged in the end."""
    await asyncio.gather(burst.run(items), outage())
    assert set(burst.statuses) <= {200, 503}, (burst.statuses, errors_logged(c.a, c.b))
    for r in burst.unavailable:
        assert_unavailable(r)
    assert burst.acked == {p["MessageSid"] for p in items}, "a text the burst retried was never acknowledged"


async def _ready(http: httpx.AsyncClient, gp: GatewayProcess) -> bool:
    return (await http.get(f"{gp.url}/readyz")).status_code == 200


async def test_postgres_restarted_mid_burst_answers_503_then_resumes_by_itself():
    async with center_under_burst() as (c, burst, http):

        async def restart_postgres() -> None:
            await burst.until(lambda: len(burst.acked) >= 40, "40 texts acknowledged")
            await asyncio.to_thread(c.postgres.stop)
            await burst.until(lambda: len(burst.unavailable) >= 10, "texts answered 503 while PostgreSQL is down")
            for gp in (c.a, c.b):
                r = await http.get(f"{gp.url}/readyz")
                assert r.status_code == 503 and r.json()["store"] is False, r.text
                assert_unavailable(await http.get(f"{gp.url}/api/queues", headers=c.admin))
            await asyncio.to_thread(c.postgres.start)
            for gp in (c.a, c.b):
                await eventually(lambda gp=gp: _ready(http, gp), f"{gp.url}/readyz is 200 again")

        items = texts("P", 150)
        async with listening(http, c.b) as listener:
            await through_outage(c, burst, items, restart_postgres)
            assert len(burst.acked) + len(burst.unavailable) == sum(burst.statuses.values())
            await assert_each_stored_once(http, c.a.url, c.admin, burst.acked)
            await assert_fan_out(http, c, listener, "SMP0002")


async def test_a_read_only_database_answers_503_and_changes_nothing():
    """``default_transaction_read_only`` on the gateway's database: writes are refused with 503, reads still served."""
    token = "durability-admin-token"
    admin = {"Authorization": f"Bearer {token}"}
    db_url = await new_postgres_database()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="durability-") as data_dir,
            gateway_process(twilio_env(data_dir, GATEWAY_DATABASE_URL=db_url, GATEWAY_ADMIN_TOKEN=token)) as gp,
        ):
            async with httpx.AsyncClient(timeout=DEADLINE) as http:
                await set_up_center(http, gp.url, admin)
                assert (await send_text(http, gp.url, text_params("SMbefore", "+14155550001"))).status_code == 200

                await set_read_only(db_url, True)
                refused = text_params("SMrefused", "+14155550002")
                # Pooled connections were cut (each answers 503 once); the new ones are read-only.
                await eventually(lambda: _refused_as_read_only(http, gp, refused), "a write is refused as read-only")
                for _ in range(3):
                    assert_unavailable(await send_text(http, gp.url, refused))
                    assert_unavailable(
                        await http.post(
                            f"{gp.url}/api/queues", json={"id": "support", "name": "Support"}, headers=admin
                        )
                    )
                    assert_unavailable(
                        await http.put(
                            f"{gp.url}/api/routing", json={"default_queue": None, "workflows": []}, headers=admin
                        )
                    )
                assert (
                    await http.get(f"{gp.url}/api/routing", headers=admin)
                ).json() == ROUTING  # reads are still served

                await set_read_only(db_url, False)
                await eventually(
                    lambda: _accepted(http, gp, refused), "the refused text is accepted once writes are allowed"
                )
                assert (await http.get(f"{gp.url}/api/queues/support", headers=admin)).status_code == 404
                assert (await http.get(f"{gp.url}/api/routing", headers=admin)).json() == ROUTING
                stored = await stored_provider_ids(http, gp.url, admin)
                assert stored == Counter({"SMbefore": 1, "SMrefused": 1}), stored
    finally:
        await drop_postgres_database(db_url)
    assert_clean_log(gp)


async def set_read_only(db_url: str, on: bool) -> None:
    """Makes the database read-only (or writable) for every new session, and cuts the sessions already open."""
    name = db_url.rpartition("/")[2]
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = {'on' if on else 'off'}")
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await conn.close()


async def _refused_as_read_only(http: httpx.AsyncClient, gp: GatewayProcess, params: dict[str, str]) -> bool:
    """Every answer is a 503; true once the gateway logged the database's own refusal, not a cut connection."""
    assert_unavailable(await send_text(http, gp.url, params))
    return "read-only transaction" in "".join(gp.output)


async def _accepted(http: httpx.AsyncClient, gp: GatewayProcess, params: dict[str, str]) -> bool:
    r = await send_text(http, gp.url, params)
    if r.status_code not in (200, 503):
        raise AssertionError(f"answered {r.status_code}: {r.text}")
    if r.status_code == 503:
        assert_unavailable(r)
    return r.status_code == 200
