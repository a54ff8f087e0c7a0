"""An in-process gateway (Starlette TestClient: lifespan and websockets on its own loop)."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bench.processes import drop_redis_prefix
from gateway.app import create_app
from gateway.settings import Settings
from sessions.stores.sql import Database, SqlStore
from tests.conftest import REDIS_URL
from tests.databases import postgres_database, sqlite_url
from tests.fake_twilio import FakeTwilio
from tests.processes import MEDIA_ADDRESSES, GatewayProcess, gateway_process

ADMIN_TOKEN = "test-admin-token"


class Gateway:
    """A TestClient plus shortcuts for the set-up every scenario needs."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def app(self):
        return self.client.app

    def until(self, check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Polls ``check`` until it holds (for effects that finish after a response, e.g. a socket's
        clean-up after it closed); fails naming ``what`` at the deadline."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"not within {timeout:g} s: {what}")
            time.sleep(0.01)

    def call(self, fn, *args: Any) -> Any:
        """Runs a coroutine function on the app's own event loop."""
        return self.client.portal.call(fn, *args)

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.as_(ADMIN_TOKEN)

    def queue(self, queue_id: str, **settings: Any) -> dict:
        r = self.client.post(
            "/api/queues", json={"id": queue_id, "name": queue_id.title(), "settings": settings}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        return r.json()

    def agent(self, username: str, queues: list[str], role: str = "agent") -> dict[str, str]:
        r = self.client.post(
            "/api/users",
            json={
                "username": username,
                "name": username.title(),
                "role": role,
                "queues": queues,
                "password": "correct horse",
            },
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        r = self.client.post("/api/auth/login", json={"username": username, "password": "correct horse"})
        assert r.status_code == 200, r.text
        return self.as_(r.json()["token"])

    def inbound(self, queue_id: str, type: Any = None, subtype: Any = None, customer: Any = None, **kw: Any) -> dict:
        """An inbound interaction as a channel adapter would create it: unless told otherwise, a call from Carla."""
        from sessions.model import CommType, Customer, Direction, Subtype

        async def create():
            return await self.app.state.sessions.create(
                None,
                queue_id=queue_id,
                direction=Direction.INBOUND,
                type=type or CommType.CALL,
                subtype=subtype or Subtype.PHONE,
                customer=customer or Customer(name="Carla", phone="+14155550100"),
                **kw,
            )

        return self.call(create).interaction.model_dump(mode="json")

    def claimed(self, queue_id: str, agent: dict[str, str], **kw: Any) -> dict:
        """An inbound call (as :meth:`inbound`) claimed by ``agent`` (their headers); the interaction after the
        claim."""
        ix = self.inbound(queue_id, **kw)
        r = self.client.post(f"/api/interactions/{ix['id']}/claim", headers=agent)
        assert r.status_code == 200, r.text
        return r.json()


def make_gateway(**overrides: Any) -> Iterator[Gateway]:
    overrides.setdefault("media_addresses", MEDIA_ADDRESSES)  # any WebRTC media stays on loopback
    with tempfile.TemporaryDirectory() as data_dir:  # the bootstrap admin's credentials file, recordings
        settings = Settings(admin_token=ADMIN_TOKEN, timer_interval=3600, data_dir=Path(data_dir), **overrides)
        with TestClient(create_app(settings, store=SqlStore(Database(sqlite_url(Path(data_dir)))))) as client:
            yield Gateway(client)


@pytest.fixture
def gw() -> Iterator[Gateway]:
    yield from make_gateway()


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    if code:
        assert body["error"] == code, body
    return body


PAIR_TOKEN = "multiprocess-admin-token"
PAIR_ADMIN = {"Authorization": f"Bearer {PAIR_TOKEN}"}


@contextmanager
def process_pair(env: dict[str, str]) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two real gateway processes sharing a PostgreSQL database of their own and Redis (a prefix of their own),
    with ``env`` besides."""
    prefix = f"test:{uuid.uuid4().hex}"
    with postgres_database() as db_url:
        shared = {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_REDIS_URL": REDIS_URL, "GATEWAY_REDIS_PREFIX": prefix}
        try:
            with gateway_process({**env, **shared}) as a, gateway_process({**env, **shared}) as b:
                yield a, b
        finally:
            drop_redis_prefix(prefix, REDIS_URL)


@pytest.fixture
def pair() -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    with process_pair({"GATEWAY_ADMIN_TOKEN": PAIR_TOKEN}) as processes:
        yield processes


@contextmanager
def twilio_process_pair(fake: FakeTwilio, admin_token: str) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two real processes (``process_pair``) set up for Twilio against the REST fake, their internal secret derived
    from ``admin_token``; at the end, neither printed a traceback."""
    env = {
        "GATEWAY_ADMIN_TOKEN": admin_token,  # the internal secret is derived from it, the same in both
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_API_BASE": fake.url,
    }
    with process_pair(env) as (a, b):
        yield a, b
    for gp in (a, b):
        log = "".join(gp.output)
        assert "Traceback" not in log, log[-4000:]
