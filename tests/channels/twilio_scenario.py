"""The Twilio scenario of the channel tests: a gateway whose queue "sales" answers on SALES_NUMBER, a fake Twilio
REST API, and ``Twilio``, which plays Twilio's side (signed webhooks).  Test modules take ``fake`` and ``twilio``
as fixtures by binding them at module level."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.settings import Settings
from sessions import ManualClock
from tests.databases import sqlite_store
from tests.fake_twilio import FakeTwilio
from tests.gateway.conftest import ADMIN_TOKEN, Gateway

PUBLIC = "https://gw.example.com"
SID, TOKEN = "AC" + "1" * 32, "twilio-auth-token"
SALES_NUMBER, CUSTOMER = "+15550001000", "+14155550100"


class Twilio:
    """Plays Twilio's side: signs and posts webhooks."""

    def __init__(self, gw: Gateway, fake: FakeTwilio) -> None:
        self.gw, self.fake = gw, fake
        self.validator = RequestValidator(TOKEN)

    def post(
        self, path: str, params: dict[str, str], *, signature: str | None = None, headers: dict[str, str] | None = None
    ):
        url = f"{PUBLIC}/webhooks/twilio/{path}"
        sig = self.validator.compute_signature(url, params) if signature is None else signature
        return self.gw.client.post(
            f"/webhooks/twilio/{path}", data=params, headers={"X-Twilio-Signature": sig, **(headers or {})}
        )

    def call(self, call_sid: str = "CA100", caller: str = CUSTOMER, to: str = SALES_NUMBER, status: str = "ringing"):
        return self.post(
            "voice",
            {
                "CallSid": call_sid,
                "AccountSid": SID,
                "From": caller,
                "To": to,
                "CallStatus": status,
                "Direction": "inbound",
            },
        )

    def text(self, body: str, message_sid: str = "SM100", sender: str = CUSTOMER, to: str = SALES_NUMBER):
        return self.post(
            "sms",
            {"MessageSid": message_sid, "AccountSid": SID, "From": sender, "To": to, "Body": body, "NumMedia": "0"},
        )

    def claimed(self, arrive: Callable[[], object]) -> tuple[dict, str, dict[str, str]]:
        """What ``arrive`` starts (a call, a text), claimed by alice, online.

        Returns the interaction as listed, its API URL and alice's headers.
        """
        alice = agent_online(self)
        arrive()
        [ix] = self.interactions()
        url = f"/api/interactions/{ix['id']}"
        self.gw.client.post(f"{url}/claim", headers=alice)
        return ix, url, alice

    def interactions(self) -> list[dict]:
        out = []
        for state in ("active", "completed"):
            r = self.gw.client.get(f"/api/queues/sales/interactions?state={state}", headers=self.gw.admin)
            out += r.json()["items"]
        return out


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def twilio(fake: FakeTwilio, tmp_path) -> Iterator[Twilio]:
    settings = Settings(
        admin_token=ADMIN_TOKEN,
        public_url=PUBLIC,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_api_base=fake.url,
        data_dir=tmp_path,
        timer_interval=3600,
        download_retry_interval=3600,
    )
    clock = ManualClock()
    with TestClient(create_app(settings, store=sqlite_store(tmp_path), clock=clock)) as client:
        gw = Gateway(client)
        gw.queue("sales", phone_number=SALES_NUMBER, voicemail=True, transcription=True, voicemail_after=60)
        t = Twilio(gw, fake)
        t.clock = clock
        yield t


def agent_online(t: Twilio, username: str = "alice"):
    headers = t.gw.agent(username, ["sales"])
    user = t.gw.client.get("/api/me", headers=headers).json()
    t.gw.call(t.gw.app.state.sessions.connected, user["id"], "test-node", 3600)
    return headers
