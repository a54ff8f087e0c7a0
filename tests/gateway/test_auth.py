"""Accounts as an attacker meets them: throttled guessing, and no secret in any log line."""

from __future__ import annotations

import os
import stat

import httpx
import websockets

from gateway import credentials
from tests.gateway.conftest import Gateway, assert_error
from tests.processes import gateway_process


def test_guessing_a_password_is_throttled_until_an_admin_clears_it(gw: Gateway):
    gw.agent("alice", [])
    statuses = [
        gw.client.post("/api/auth/login", json={"username": "alice", "password": f"guess {i}"}).status_code
        for i in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3
    r = gw.client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
    body = assert_error(r, 429, "too_many_attempts")
    assert 0 < int(r.headers["Retry-After"]) <= 60 and "try again" in body["detail"]
    assert_error(
        gw.client.delete(
            "/api/users/alice/login-failures", headers=gw.as_(gw.agent("mallory", []).get("Authorization").split()[1])
        ),
        403,
    )
    assert gw.client.delete("/api/users/alice/login-failures", headers=gw.admin).status_code == 204
    assert gw.client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"}).status_code == 200


def test_a_correct_login_clears_the_accounts_failures(gw: Gateway):
    gw.agent("alice", [])
    for _ in range(4):
        assert gw.client.post("/api/auth/login", json={"username": "alice", "password": "wrong"}).status_code == 401
    assert gw.client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"}).status_code == 200
    for _ in range(4):
        assert gw.client.post("/api/auth/login", json={"username": "alice", "password": "wrong"}).status_code == 401, (
            "a fresh count"
        )


async def test_no_secret_reaches_the_output_and_the_admin_credentials_are_the_owners_alone(tmp_path):
    with gateway_process({"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_ADMIN_TOKEN": ""}) as gp:
        path = credentials.path_in(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        written = dict(line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line)
        token, password = written["token"], written["password"]
        admin = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=gp.url, timeout=10) as http:
            assert (await http.get("/api/me", headers=admin)).json()["username"] == "admin"
            login = await http.post("/api/auth/login", json={"username": "admin", "password": password})
            assert login.status_code == 200
            await http.get(f"/api/me?token={token}", headers=admin)  # an old client's habit
            ticket = (await http.post("/api/auth/ws-ticket", headers=admin)).json()["ticket"]
        async with websockets.connect(f"{gp.ws_url}/ws/agent?token={token}"):
            pass
        async with websockets.connect(f"{gp.ws_url}/ws/agent?ticket={ticket}"):
            pass
        async with httpx.AsyncClient(
            base_url=gp.url
        ) as http:  # a last request: once it is logged, so are the lines above
            assert (await http.get("/healthz?last=1")).status_code == 200
        log = gp.wait_for_output("GET /healthz?last=1")
        assert str(path) in log, "the start-up message names the file"
        assert "WebSocket /ws/agent?token=[redacted]" in log and "ticket=[redacted]" in log
        for secret in (token, password, ticket, login.json()["token"]):
            assert secret not in log
