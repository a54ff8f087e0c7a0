"""Signed Twilio SMS webhooks sent in concurrent bursts to real gateway processes, and what they stored.

For the durability tests: a burst records which texts were acknowledged (2xx), which were answered
503 and which got no answer at all, so a test can check after a crash or an outage that every
acknowledged text is stored exactly once, read back through the API.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import websockets
from twilio.request_validator import RequestValidator

from tests.processes import GatewayProcess

#: Every process answers for the same public URL, as behind a load balancer: Twilio signs that.
PUBLIC_URL = "https://switchboard.example.test"
AUTH_TOKEN = "durability-twilio-auth-token"
NUMBER = "+15550002000"
SMS_PATH = "/webhooks/twilio/sms"
ROUTING = {"default_queue": "sales", "workflows": []}
#: How long any wait on a condition may take before the test fails.
DEADLINE = 30.0

validator = RequestValidator(AUTH_TOKEN)


def text_params(sid: str, sender: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": NUMBER,
        "Body": f"text {sid}",
        "NumMedia": "0",
    }


def texts(prefix: str, count: int, senders: int = 12) -> list[dict[str, str]]:
    """Distinct texts from a dozen customers: most join a conversation that is already open, as real traffic does."""
    return [text_params(f"SM{prefix}{i:05d}", f"+1415555{i % senders:04d}") for i in range(count)]


async def send_text(http: httpx.AsyncClient, base: str, params: dict[str, str]) -> httpx.Response:
    signature = validator.compute_signature(PUBLIC_URL + SMS_PATH, params)
    return await http.post(base + SMS_PATH, data=params, headers={"X-Twilio-Signature": signature})


def assert_unavailable(r: httpx.Response) -> None:
    """The 503 contract: a JSON error a client can show, and when to retry."""
    assert r.status_code == 503, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] and body["detail"], body
    assert int(r.headers["retry-after"]) > 0, r.headers


@dataclass
class Burst:
    """Texts sent concurrently by a few clients, round-robin over the processes, and what each answer was.

    ``retry_unavailable``: a text answered 503 is sent again (to the next process) until it is
    acknowledged, as Twilio retries; a request with no answer at all (the process was killed) is not.
    """

    targets: Callable[[], list[str]]
    retry_unavailable: bool = False
    acked: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable: list[httpx.Response] = field(default_factory=list)
    unanswered: int = 0
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self, items: list[dict[str, str]], clients: int = 8) -> None:
        pending = list(reversed(items))
        async with httpx.AsyncClient(timeout=DEADLINE) as http:
            await asyncio.gather(*(self._client(http, pending, n) for n in range(clients)))

    async def _client(self, http: httpx.AsyncClient, pending: list[dict[str, str]], n: int) -> None:
        sent = n
        while pending:
            params = pending.pop()
            while True:
                targets = self.targets()
                sent += 1
                try:
                    r = await send_text(http, targets[sent % len(targets)], params)
                except httpx.TransportError:
                    await self._record(None, params)
                    break
                await self._record(r, params)
                if r.status_code != 503 or not self.retry_unavailable:
                    break
                await asyncio.sleep(0.02)  # pacing, not synchronisation: a retry storm only fills the log

    async def _record(self, r: httpx.Response | None, params: dict[str, str]) -> None:
        async with self.progress:
            if r is None:
                self.unanswered += 1
            else:
                self.statuses[r.status_code] += 1
                if 200 <= r.status_code < 300:
                    self.acked.add(params["MessageSid"])
                elif r.status_code == 503:
                    self.unavailable.append(r)
            self.progress.notify_all()

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        async with self.progress:
            try:
                await asyncio.wait_for(self.progress.wait_for(predicate), DEADLINE)
            except TimeoutError:
                raise AssertionError(
                    f"the burst never reached: {what} (acked {len(self.acked)}, answers {dict(self.statuses)})"
                ) from None


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls ``check`` until it holds; fails loudly at the deadline."""
    end = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def stored_texts(http: httpx.AsyncClient, base: str, admin: dict[str, str]) -> tuple[Counter[str], list[str]]:
    """How many times each text is stored, over every interaction of the queue, read through the API;
    and the interactions holding no text at all (opened by a text whose own message never landed)."""
    seen: Counter[str] = Counter()
    empty: list[str] = []
    for state in ("active", "completed"):
        r = await http.get(
            f"{base}/api/queues/sales/interactions", params={"state": state, "limit": 500}, headers=admin
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) < 500, "more interactions than one page: the count would be incomplete"
        for ix in r.json()["items"]:
            seen.update(m["provider_id"] for m in ix["messages"] if m["direction"] == "inbound")
            if not ix["messages"]:
                empty.append(ix["id"])
    return seen, empty


async def stored_provider_ids(http: httpx.AsyncClient, base: str, admin: dict[str, str]) -> Counter[str]:
    """Once every text has been acknowledged: how many times each is stored; no conversation is left half-opened."""
    seen, empty = await stored_texts(http, base, admin)
    assert not empty, f"interactions opened by a text that is not in them: {empty}"
    return seen


async def set_up_center(http: httpx.AsyncClient, base: str, admin: dict[str, str]) -> None:
    """A queue that takes texts to NUMBER, routing that defaults to it, and agent alice."""
    r = await http.post(
        f"{base}/api/queues", json={"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER}}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert (await http.put(f"{base}/api/routing", json=ROUTING, headers=admin)).status_code == 200
    r = await http.post(
        f"{base}/api/users",
        json={"username": "alice", "name": "Alice", "queues": ["sales"], "password": "correct horse"},
        headers=admin,
    )
    assert r.status_code == 201, r.text


async def login(http: httpx.AsyncClient, base: str) -> str:
    r = await http.post(f"{base}/api/auth/login", json={"username": "alice", "password": "correct horse"})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def errors_logged(*processes: GatewayProcess) -> str:
    """The first traceback each process logged, to explain an unexpected status."""
    found = []
    for gp in processes:
        log = "".join(gp.output)
        if (at := log.find("Traceback")) >= 0:
            found.append(log[max(0, at - 300) : at + 6000])
    return "\n---\n".join(found)


def assert_clean_log(*processes: GatewayProcess) -> None:
    for gp in processes:
        log = "".join(gp.output)
        assert "Traceback" not in log and "unhandled error" not in log, log[-4000:]


async def assert_each_stored_once(http: httpx.AsyncClient, base: str, admin: dict[str, str], sids: set[str]) -> None:
    """Each of ``sids`` stored once; texts never acknowledged may be missing (Twilio retries them)."""
    stored, _ = await stored_texts(http, base, admin)
    missing = sorted(sid for sid in sids if stored[sid] == 0)
    doubled = sorted(sid for sid, n in stored.items() if n > 1)
    assert not missing and not doubled, (
        f"missing {missing[:10]} ({len(missing)}), stored twice {doubled[:10]} ({len(doubled)})"
    )


def twilio_env(data_dir: str, **extra: str) -> dict[str, str]:
    return {"GATEWAY_DATA_DIR": data_dir, "GATEWAY_PUBLIC_URL": PUBLIC_URL, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, **extra}


@dataclass
class Listener:
    """An agent socket read continuously (one that stops reading is cut off): the customers it has heard from, and how
    it ended."""

    phones: set[str] = field(default_factory=set)
    ended: str | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self, ws: websockets.ClientConnection) -> None:
        try:
            async for raw in ws:
                event = json.loads(raw)
                async with self.changed:
                    if event.get("interaction"):
                        self.phones.add(event["interaction"]["customer"]["phone"])
                    self.changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        async with self.changed:
            self.ended = f"closed {ws.close_code} {ws.close_reason!r}"
            self.changed.notify_all()

    async def hears_from(self, phone: str) -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: phone in self.phones or self.ended is not None), DEADLINE
                )
            except TimeoutError:
                raise AssertionError(f"the agent socket never heard from {phone}") from None
            assert phone in self.phones, f"the agent socket was {self.ended} before it heard from {phone}"


@asynccontextmanager
async def listening(http: httpx.AsyncClient, gp: GatewayProcess) -> AsyncIterator[Listener]:
    """Agent alice's socket on ``gp``, open for the whole block."""
    token = await login(http, gp.url)
    async with websockets.connect(f"{gp.ws_url}/ws/agent?token={token}") as ws:
        listener = Listener()
        reader = asyncio.create_task(listener.read(ws))
        try:
            yield listener
        finally:
            reader.cancel()
