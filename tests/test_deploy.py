"""The reference deployment (deploy/): the shipped HAProxy config is valid, and three real gateway processes behind
it are balanced round-robin, reached through it by websockets, and survive one of them being killed."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from bench.balancer import (
    CONFIG,
    NODE_HEADER,
    SERVED_BY,
    Cluster,
    check_config,
    cluster,
    haproxy_binary,
    haproxy_config,
    server_name,
)
from gateway.internal_auth import HOP_HEADER, sign
from tests.conftest import REDIS_URL
from tests.databases import postgres_database

TOKEN = "deploy-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def three() -> Iterator[Cluster]:
    with cluster(3, {"GATEWAY_ADMIN_TOKEN": TOKEN}, redis_url=REDIS_URL, database=postgres_database) as c:
        yield c


def test_the_shipped_haproxy_config_and_the_one_tests_generate_from_it_are_valid(tmp_path):
    haproxy_binary()  # fails with the way to install it, never skips
    shipped = check_config(CONFIG)
    assert shipped.returncode == 0 and "Configuration file is valid" in shipped.stdout, shipped.stdout
    generated = tmp_path / "haproxy.cfg"
    generated.write_text(haproxy_config([8101, 8102, 8103], 8100, str(tmp_path / "admin.sock")))
    checked = check_config(generated)
    assert checked.returncode == 0, checked.stdout
    text = generated.read_text()
    # What must hold for the deployment, read from the config actually run.
    for line in (
        "balance roundrobin",
        "option httpchk GET /readyz",
        "http-check expect status 200",
        "option redispatch",
        "retries 3",
        "option forwardfor",
        "timeout tunnel 1h",
        "http-request del-header X-Switchboard-Hop",
        "acl internal_path path,url_dec -m beg /internal/",
    ):
        assert line in text, line
    assert [ln.split()[1:3] for ln in text.splitlines() if ln.strip().startswith("server ")] == [
        [server_name(p), f"127.0.0.1:{p}"] for p in (8101, 8102, 8103)
    ]


def test_the_nginx_config_is_valid_when_nginx_is_installed(tmp_path):
    """nginx is an alternative, not installed by .ci/run: checked where it exists (`nginx -t` on a wrapper that
    includes deploy/nginx.conf in an http block), reported as skipped elsewhere."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (the alternative balancer; .ci/run installs haproxy only)")
    (tmp_path / "logs").mkdir()
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {ROOT / 'deploy' / 'nginx.conf'};\n}}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(wrapper)], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_nginx_config_keeps_internal_requests_inside():
    """What HAProxy's is shown doing below, read from nginx's file (nginx itself is not installed by .ci/run)."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "location ^~ /internal/ {" in text and "return 404 " in text.split("location ^~ /internal/ {")[1]
    assert 'proxy_set_header X-Switchboard-Hop "";' in text.split("location / {")[1]


async def served_by(http: httpx.AsyncClient, url: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        r = await http.get(f"{url}/healthz")
        assert r.status_code == 200, r.text
        out.append(r.headers[SERVED_BY])
    return out


async def test_requests_through_the_balancer_reach_all_three_processes_in_round_robin_order(three):
    names = {server_name(p.port) for p in three.processes}
    async with httpx.AsyncClient(timeout=10) as http:  # one keep-alive connection: HAProxy balances each request
        seen = await served_by(http, three.balancer.url, 9)
    assert set(seen[:3]) == names, seen
    assert seen[3:6] == seen[:3] and seen[6:9] == seen[:3], seen


async def test_land_next_on_puts_the_next_request_on_the_wanted_server(three):
    async with httpx.AsyncClient(timeout=10) as http:
        for p in [*three.processes, *reversed(three.processes)]:
            await three.balancer.land_next_on(server_name(p.port), http, header=SERVED_BY)
            assert (await served_by(http, three.balancer.url, 1)) == [server_name(p.port)]


async def test_land_next_on_by_node_id(three):
    async with httpx.AsyncClient(timeout=10) as http:
        for p in three.processes:
            await three.balancer.land_next_on(f"node-{p.port}", http)
            r = await http.get(f"{three.balancer.url}/healthz")
            assert r.headers[NODE_HEADER] == f"node-{p.port}"


async def test_no_outside_request_reaches_an_internal_path_even_signed(three):
    """/internal/ is for the gateway's processes, talking directly: the balancer answers 404 itself, even for a
    request carrying a valid hop signature and however the path is spelt; the same request sent to a process
    directly reaches its route (which here holds no call: its own 404)."""
    secret = three.env["GATEWAY_INTERNAL_SECRET"]
    direct = three.processes[0].url
    async with httpx.AsyncClient(timeout=10) as http:
        for path in ("/internal/calls/ix-1/release", "/%69nternal/calls/ix-1/release"):
            signed = {HOP_HEADER: sign(secret, "POST", path, b"", "outsider")}
            r = await http.post(f"{three.balancer.url}{path}", headers=signed)
            assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
            assert NODE_HEADER not in r.headers, "no gateway saw it"
            r = await http.post(f"{direct}{path}", headers=signed)
            assert r.status_code == 404 and "holds no live call" in r.json()["detail"], r.text
            assert NODE_HEADER in r.headers


async def test_a_hop_header_sent_through_the_balancer_never_reaches_a_gateway(three):
    """A relayed media socket is opened with a hop signature instead of Twilio's; one sent from outside through the
    balancer arrives without it, so even a valid one is refused (no Twilio signature: 403).  The same handshake
    sent to a process directly is accepted: the test can tell the header was removed."""
    target = "/webhooks/twilio/media?interaction=ix-1&leg=consult"
    signed = {HOP_HEADER: sign(three.env["GATEWAY_INTERNAL_SECRET"], "GET", target, b"", "outsider")}
    for _ in three.processes:  # each process in turn (round-robin)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{three.balancer.ws_url}{target}", additional_headers=signed):
                pass
        assert refused.value.response.status_code == 403
    async with websockets.connect(f"{three.processes[0].ws_url}{target}", additional_headers=signed) as ws:
        assert ws.response.status_code == 101


async def next_event(ws, type_: str) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] == type_:
            return event


async def test_an_agent_socket_opens_through_the_balancer_and_receives_events(three):
    url = three.balancer.url
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.post("/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        alice = {"username": "alice", "password": "correct horse"}
        r = await http.post("/api/users", json={**alice, "name": "Alice", "queues": ["sales"]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        token = (await http.post("/api/auth/login", json=alice)).json()["token"]
        async with websockets.connect(f"{three.balancer.ws_url}/ws/agent?token={token}") as ws:
            upgraded_on = ws.response.headers[SERVED_BY]
            # The next request lands on another process: the event crosses processes (Redis) and the balancer.
            other = next(server_name(p.port) for p in three.processes if server_name(p.port) != upgraded_on)
            await three.balancer.land_next_on(other, http, header=SERVED_BY)
            r = await http.post(
                "/api/interactions", json={"queue_id": "sales", "type": "call", "subtype": "phone"}, headers=ADMIN
            )
            assert r.status_code == 201 and r.headers[SERVED_BY] == other, r.text
            created = await next_event(ws, "interaction.created")
            assert created["interaction"]["id"] == r.json()["id"]


@pytest.fixture
def fresh_three() -> Iterator[Cluster]:
    """Three processes of a test's own, for a test that kills one."""
    with cluster(3, {"GATEWAY_ADMIN_TOKEN": TOKEN}, redis_url=REDIS_URL, database=postgres_database) as c:
        yield c


async def test_a_killed_process_costs_no_request_and_is_marked_down(fresh_three):
    c = fresh_three
    lb = c.balancer
    victim = c.processes[1]
    name = server_name(victim.port)
    # Hold its health checks so HAProxy still believes it UP: the requests below must meet the dead server
    # and be redispatched (else a quick check could take it out first and the test would prove nothing).
    assert lb.runtime(f"disable health gateways/{name}").strip() == ""
    victim.proc.kill()
    victim.proc.wait(10)
    async with httpx.AsyncClient(timeout=10) as http:
        seen = await served_by(http, lb.url, 9)  # three rounds: some were sent to the dead server
        assert name not in seen and len(set(seen)) == 2, seen
        stats = lb.servers()[name]  # ... and went to another: redispatched, every one answered
        assert int(stats["wredis"]) >= 1 and stats["status"] == "no check", stats
        assert lb.runtime(f"enable health gateways/{name}").strip() == ""
        lb.wait_for(victim.port, "DOWN")
        seen = await served_by(http, lb.url, 6)
        assert name not in seen and len(set(seen)) == 2, seen


async def test_a_draining_process_is_taken_out_and_costs_no_request(fresh_three):
    """SIGTERM (systemctl stop, a rolling restart): the process closes its listener, HAProxy's check marks it DOWN,
    and no request meanwhile fails."""
    lb = fresh_three.balancer
    victim = fresh_three.processes[0]
    name = server_name(victim.port)
    async with httpx.AsyncClient(timeout=10) as http:
        assert name in await served_by(http, lb.url, 3)
        victim.proc.terminate()
        deadline = time.monotonic() + 10
        while lb.status(victim.port) != "DOWN":  # requests all along (each must answer 200) until it is out
            assert time.monotonic() < deadline, f"{name} still {lb.status(victim.port)} 10 s after SIGTERM"
            await served_by(http, lb.url, 3)
        seen = await served_by(http, lb.url, 6)
        assert name not in seen and len(set(seen)) == 2, seen
    victim.proc.wait(10)  # uvicorn re-raises the SIGTERM once shut down: the exit status says SIGTERM either way
    assert "Application shutdown complete" in "".join(victim.output), "".join(victim.output)[-2000:]
