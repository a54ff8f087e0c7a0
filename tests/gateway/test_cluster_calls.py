"""Live calls on three gateway processes behind HAProxy (deploy/haproxy.cfg, round-robin): every leg lands wherever
the balancer puts it, and the call survives the process holding it being killed or stopped.

Twilio is `TwilioCall` (it follows the gateway's TwiML, ``<Connect action>`` included, and hears with an FFT); the
agent and the supervisor are aiortc peers offering through the balancer.  Where each request lands is steered with
`Balancer.land_next_on` and checked with the ``X-Switchboard-Node`` answer header; where the call runs, with the
call homes the processes share in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from bench.balancer import NODE_HEADER, Cluster, cluster
from bench.cluster_watch import AgentSocket, call_home, node, recording_parts, until
from bench.peers import Browser
from bench.twilio_fake_call import TwilioCall
from tests.conftest import REDIS_URL
from tests.databases import postgres_database
from tests.fake_twilio import FakeTwilio

SID, TOKEN, ADMIN_TOKEN = "AC" + "7" * 32, "cluster-twilio-token", "cluster-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER_HZ, AGENT_HZ = 1000.0, 440.0
NUMBER, CUSTOMER = "+15550001000", "+14155550100"
#: The share of a tone in what a party hears for it to count as heard (the mixer passes it nearly pure).
HEARD = 0.5
#: How long a test waits for audio to come back before failing; the measured gaps are printed, not asserted.
RESUME_TIMEOUT = 15.0


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def three(fake: FakeTwilio) -> Iterator[Cluster]:
    env = {
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE": fake.url,
    }
    with cluster(3, env, redis_url=REDIS_URL, database=postgres_database) as c:
        yield c


async def landed(c: Cluster, http: httpx.AsyncClient, target) -> None:
    """The next request through the balancer goes to ``target``."""
    await c.balancer.land_next_on(node(target), http)


@contextlib.contextmanager
def diagnosed(c: Cluster, caller: TwilioCall) -> Iterator[None]:
    """On a failure, prints what Twilio did and the balancer's request log (pytest shows it with the failure)."""
    try:
        yield
    except AssertionError:
        print("Twilio's requests:", caller.requests, "ended:", caller.end_reason, "streams:", caller.legs)
        print("balancer log:\n" + "".join(line for line in c.balancer.output if "/readyz" not in line))
        raise


async def set_up(c: Cluster, http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    """A recorded queue with its number, agent alice and supervisor sam: (alice's headers, sam's headers)."""
    queue = {"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER, "recording": True}}
    assert (await http.post("/api/queues", json=queue, headers=ADMIN)).status_code == 201
    heads = []
    for username, role in (("alice", "agent"), ("sam", "supervisor")):
        user = {"username": username, "password": "correct horse", "name": username.title(), "role": role}
        assert (await http.post("/api/users", json={**user, "queues": ["sales"]}, headers=ADMIN)).status_code == 201
        login = await http.post("/api/auth/login", json={"username": username, "password": "correct horse"})
        heads.append({"Authorization": f"Bearer {login.json()['token']}"})
    return heads[0], heads[1]


async def offer(c: Cluster, http: httpx.AsyncClient, peer: Browser, body: dict, headers: dict, retry: bool = False):
    """A browser's offer through the balancer; with ``retry``, a 409 (the call is moving) is offered again, as the
    console does."""
    while True:
        r = await peer.connect(http, "/api/webrtc/offer", body, headers)
        if r.status_code != 409 or not retry:
            return r
        await asyncio.sleep(float(r.headers.get("retry-after", "0.25")) / 4)


@pytest.mark.parametrize(
    ("stop", "reason"),
    [(signal.SIGKILL, "lost"), (signal.SIGTERM, "handed_over")],
    ids=["killed", "drained"],
)
async def test_a_call_whose_legs_land_on_three_processes_carries_tones_and_outlives_its_process(
    three: Cluster, stop: signal.Signals, reason: str
):
    """kill -9: the survivor that Twilio's new stream reaches rescues the dead process's recording part; SIGTERM:
    the stopping process hands the call over itself (its part attached) and exits."""
    c = three
    a = c.processes[0]
    async with httpx.AsyncClient(base_url=c.balancer.url, timeout=20) as http:
        alice, sam = await set_up(c, http)
        caller = TwilioCall(CALLER_HZ, account_sid=SID)
        agent, supervisor = Browser(AGENT_HZ), Browser(700.0)
        try:
            # The voice webhook lands on a, the media stream on the next process in the rotation.
            await landed(c, http, a)
            await caller.dial(c.balancer.url, c.balancer.ws_url, TOKEN, "CA1", CUSTOMER, NUMBER)
            ix_id = caller.legs[0].params["interaction"]
            await until(lambda: call_home(c, ix_id), "the stream to be taken")
            home = await call_home(c, ix_id)
            owner = next(p for p in c.processes if node(p) == home)
            assert owner is not a, "the stream landed on another process than the voice webhook"
            others = [p for p in c.processes if p not in (a, owner)]
            assert (await http.post(f"/api/interactions/{ix_id}/claim", headers=alice)).status_code == 200
            socket = AgentSocket(c.balancer.ws_url, alice["Authorization"].split()[1])
            try:
                # The agent's offer lands on the third process, which forwards it to the call's home.
                await landed(c, http, others[0])
                r = await offer(c, http, agent, {"interaction_id": ix_id}, alice)
                assert r.status_code == 200, r.text
                assert r.headers[NODE_HEADER] == node(others[0])
                t0 = time.monotonic()
                await until(lambda: caller.ear.hears(AGENT_HZ, t0) > HEARD, "the caller to hear the agent")
                await until(lambda: agent.ear.hears(CALLER_HZ, t0) > HEARD, "the agent to hear the caller")
                # A supervisor listens from a fourth landing (the webhook's process again): forwarded too.
                await landed(c, http, a)
                r = await offer(c, http, supervisor, {"interaction_id": ix_id, "mode": "listen"}, sam)
                assert r.status_code == 200, r.text
                await until(lambda: supervisor.ear.hears(CALLER_HZ, t0) > HEARD, "the supervisor to hear the call")

                # The call's process dies or stops.  Twilio asks the action URL, a survivor takes the call, the
                # agent's console is told (audio_moved) and offers again.
                owner.proc.send_signal(stop)
                killed = time.monotonic()
                with diagnosed(c, caller):
                    moved = await until(lambda: socket.of(ix_id, "interaction.audio_moved"), "the move to be announced")
                await agent.close()
                agent = Browser(AGENT_HZ)
                r = await offer(c, http, agent, {"interaction_id": ix_id}, alice, retry=True)
                assert r.status_code == 200, r.text
                heard = await until(lambda: caller.ear.hears(AGENT_HZ, killed + 0.2) > HEARD, "the caller again")
                hears = await until(lambda: agent.ear.hears(CALLER_HZ, killed + 0.2) > HEARD, "the agent again")
                taker = await call_home(c, ix_id)
                assert taker in {node(p) for p in others + [a]} and taker != node(owner)
                gap = caller.gaps[0] if caller.gaps else None
                print(
                    f"\n{stop.name} to {node(owner)}: stream back after {gap.heard if gap else None} s, audio_moved "
                    f"after {moved - killed:.2f} s, caller hears the agent after {heard - killed:.2f} s, "
                    f"the agent hears the caller after {hears - killed:.2f} s"
                )
            finally:
                await socket.close()
            await caller.hang_up()

            async def both_parts() -> bool:
                nonlocal ix
                ix = (await http.get(f"/api/interactions/{ix_id}", headers=ADMIN)).json()
                return len(ix["recordings"]) >= 2

            ix: dict = {}
            await until(both_parts, "both parts of the recording to be attached")
            parts = recording_parts(ix, c.data_dir)
            assert len(parts) == 2, "the part written before the stop (rescued after a kill) and the one after"
            assert all(seconds > 0.2 and abs(hz - CALLER_HZ) < 15 for seconds, hz in parts), parts
            moves = [e for e in ix["activity"] if e["kind"] == "audio" and e["data"].get("status") == "moved"]
            assert len(moves) == 1 and moves[0]["data"]["reason"] == reason, moves
            if stop is signal.SIGTERM:
                owner.wait_for_output("Application shutdown complete")
                owner.proc.wait(10)  # drained: nothing kept it past its calls
            assert ix["status"] in ("wrap_up", "claimed") and ix["assigned_to"] is not None
        finally:
            await caller.close()
            await agent.close()
            await supervisor.close()
