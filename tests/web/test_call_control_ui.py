"""Call control in the console, in Chromium with fake microphones: a supervisor monitors a call (listen, whisper,
barge in) and an agent hands a call over on a warm transfer (the consulted agent joins, three-way, complete)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect
from twilio.request_validator import RequestValidator
from websockets.sync.client import connect

from channels.audio import MulawDecoder
from tests.processes import GatewayProcess, twilio_gateway
from tests.web.conftest import DOCS, PASSWORD, login

SID, TOKEN, ADMIN_TOKEN = "AC" + "4" * 32, "call-control-twilio-token", "call-control-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER = "+14155550100"


@pytest.fixture
def server(tmp_path) -> Iterator[GatewayProcess]:
    with twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN) as gp:
        http = httpx.Client(base_url=gp.url, timeout=20, headers=ADMIN)
        http.post(
            "/api/queues", json={"id": "sales", "name": "Sales", "settings": {"phone_number": "+15550001000"}}
        ).raise_for_status()
        http.post("/api/queues", json={"id": "support", "name": "Support"}).raise_for_status()
        for user in (
            {"username": "alice", "name": "Alice", "queues": ["sales"]},
            {"username": "bob", "name": "Bob", "queues": ["support"]},
            {"username": "sam", "name": "Sam", "role": "supervisor", "queues": ["sales"]},
        ):
            http.post("/api/users", json={**user, "password": PASSWORD}).raise_for_status()
        yield gp


class Caller:
    """Twilio's side of the call: the webhook, then a media stream whose (mu-law) playback is kept."""

    def __init__(self, server: GatewayProcess, call_sid: str) -> None:
        params = {"CallSid": call_sid, "From": CALLER, "To": "+15550001000", "CallStatus": "ringing"}
        sig = RequestValidator(TOKEN).compute_signature(f"{server.url}/webhooks/twilio/voice", params)
        twiml = httpx.post(
            f"{server.url}/webhooks/twilio/voice", data=params, headers={"X-Twilio-Signature": sig}, timeout=20
        ).text
        self.interaction = twiml.split('name="interaction" value="')[1].split('"')[0]
        url = f"{server.ws_url}/webhooks/twilio/media"
        self.ws = connect(
            url, additional_headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
        )
        self.ws.send(
            json.dumps(
                {
                    "event": "start",
                    "streamSid": "MZ" + call_sid,
                    "start": {
                        "streamSid": "MZ" + call_sid,
                        "callSid": call_sid,
                        "customParameters": {"interaction": self.interaction},
                    },
                }
            )
        )
        self.media: list[bytes] = []
        self.cleared_at: list[int] = []  # how many media frames had arrived at each "clear"
        self.changed = threading.Condition()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        try:
            for text in self.ws:
                msg = json.loads(text)
                with self.changed:
                    if msg["event"] == "media":
                        self.media.append(base64.b64decode(msg["media"]["payload"]))
                    elif msg["event"] == "clear":
                        self.cleared_at.append(len(self.media))
                    self.changed.notify_all()
        except Exception:
            pass

    def wait(self, check, timeout: float = 15) -> None:
        with self.changed:
            assert self.changed.wait_for(check, timeout), "the caller's stream did not get there"

    def heard_since(self, start: int, frames: int = 50) -> np.ndarray:
        """The caller's audio from frame ``start`` on, once ``frames`` of it arrived."""
        self.wait(lambda: len(self.media) >= start + frames)
        decoder = MulawDecoder()
        return np.concatenate(
            [f.to_ndarray().reshape(-1) for chunk in self.media[start:] for f in decoder.pcm8k(chunk)]
        )

    def close(self) -> None:
        self.ws.close()


def token_of(page: Page) -> dict[str, str]:
    token = page.evaluate("sessionStorage.getItem('switchboard-token')")
    return {"Authorization": f"Bearer {token}"}


def test_supervisor_listens_whispers_and_barges_in(server: GatewayProcess, browser: Browser):
    http = httpx.Client(base_url=server.url, timeout=20)
    caller = Caller(server, "CA41")
    alice = {
        "Authorization": "Bearer "
        + http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}).json()["token"]
    }
    http.post(
        f"/api/interactions/{caller.interaction}/claim", headers=alice
    ).raise_for_status()  # alice has it (her audio is not connected)

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, server, "sam")
    page.get_by_role("table", name="Active interactions").get_by_role("link", name=CALLER).click()
    monitor = page.get_by_role("group", name="Monitor call")
    listen, whisper, barge = (
        monitor.get_by_role("button", name=n, exact=True) for n in ("Listen", "Whisper", "Barge in")
    )
    for b in (listen, whisper, barge):
        expect(b).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("group", name="Call audio")).to_have_count(0)  # the agent's softphone is alice's, not his

    listen.click()
    expect(monitor.get_by_role("status")).to_have_text("Audio connected", timeout=15_000)
    expect(listen).to_have_attribute("aria-pressed", "true")
    whisper.click()
    expect(whisper).to_have_attribute("aria-pressed", "true")
    expect(listen).to_have_attribute("aria-pressed", "false")
    expect(monitor).to_contain_text("The agent hears you; the caller does not.")
    feed = page.get_by_role("list", name="Activity feed")
    page.get_by_role("tab", name="activity").click()
    expect(feed).to_contain_text("Sam is whispering to the agent")
    assert not caller.media, "listening and whispering, the supervisor does not reach the caller"

    barge.click()
    expect(barge).to_have_attribute("aria-pressed", "true")
    expect(feed).to_contain_text("Sam barged in")
    pcm = caller.heard_since(0)
    assert np.abs(pcm).max() > 1000, "barged in, the supervisor's (fake, beeping) microphone reaches the caller"
    activity = http.get(f"/api/interactions/{caller.interaction}", headers=ADMIN).json()["activity"]
    assert [a["data"]["status"] for a in activity if a["kind"] == "monitor"] == ["listen", "whisper", "barge"]
    assert all(a["by"] == "sam" for a in activity if a["kind"] == "monitor")
    page.screenshot(path=str(DOCS / "console-monitor.png"))

    with page.expect_response("**/audio/leave") as left:
        monitor.get_by_role("button", name="Stop monitoring").click()
    assert left.value.status == 204
    expect(monitor.get_by_role("button", name="Stop monitoring")).to_have_count(0)
    expect(barge).to_have_attribute("aria-pressed", "false")
    gone = http.post(f"/api/interactions/{caller.interaction}/monitor", json={"mode": "listen"}, headers=token_of(page))
    assert gone.status_code == 409, "the supervisor's leg is off the call"
    caller.close()
    page.close()


def test_warm_transfer_from_alice_to_bob_in_the_console(server: GatewayProcess, browser: Browser):
    http = httpx.Client(base_url=server.url, timeout=20, headers=ADMIN)
    caller = Caller(server, "CA42")
    ix_id = caller.interaction

    alice = browser.new_page(viewport={"width": 1366, "height": 800})
    login(alice, server, "alice")
    alice.get_by_role("region", name="Incoming interaction").get_by_role("button", name="Accept").click()
    alice.get_by_role("group", name="Call audio").get_by_role("button", name="Connect audio").click()
    expect(alice.get_by_role("group", name="Call audio").get_by_role("status")).to_have_text(
        "Audio connected", timeout=15_000
    )

    bob = browser.new_page(viewport={"width": 1366, "height": 800})
    offers: list[str] = []
    bob.on("request", lambda r: offers.append(r.url) if r.url.endswith("/api/webrtc/offer") else None)
    login(bob, server, "bob")
    expect(bob.get_by_role("table", name="Active interactions")).to_contain_text(
        "No active interactions"
    )  # Sales is not his queue

    transfer = alice.get_by_role("form", name="Transfer")
    transfer.get_by_label("Transfer to").select_option("user")
    transfer.get_by_label("Target").select_option("bob")
    transfer.get_by_label("Mode").select_option("warm")
    transfer.get_by_role("button", name="Transfer").click()
    consult = alice.get_by_role("group", name="Warm transfer")
    expect(consult).to_contain_text("Consulting Bob · waiting for them to join")
    three_way = consult.get_by_role("button", name="Three-way")
    expect(three_way).to_have_attribute("aria-pressed", "false")
    caller.wait(lambda: caller.cleared_at)  # the caller holds during the consult
    held_at = caller.cleared_at[-1]

    # Bob is told, opens the call (not in his queues: it is his to see because he is consulted) and joins.
    banner = bob.get_by_role("region", name="Consult request")
    expect(banner).to_contain_text(f"Alice is consulting you about a call from {CALLER}")
    bob.reload()  # a console reloaded mid-consult still finds the call, though it is in none of his queues
    expect(banner).to_contain_text(f"Alice is consulting you about a call from {CALLER}")
    banner.get_by_role("link", name="Open call").click()
    notice = bob.get_by_role("region", name="Consult", exact=True)
    expect(notice).to_contain_text("Alice is consulting you about this call")
    expect(banner).to_be_hidden()
    notice.get_by_role("button", name="Join consult").click()
    consult_audio = notice.get_by_role("group", name="Consult audio")
    expect(consult_audio.get_by_role("status")).to_have_text("Audio connected", timeout=15_000)
    expect(consult_audio.get_by_role("button", name="Mute", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(consult_audio.get_by_role("button", name="Leave")).to_be_visible()
    expect(consult).to_contain_text("Consulting Bob · on the line")
    assert http.get(f"/api/interactions/{ix_id}").json()["consult"]["joined_at"]
    assert len(caller.media) - held_at <= 2, "while alice and bob talk, the caller hears nobody"

    # Three-way: the caller is back, with both of them.
    before = len(caller.media)
    three_way.click()
    expect(three_way).to_have_attribute("aria-pressed", "true")
    expect(notice).to_contain_text("The caller is talking with you and Alice.")
    assert np.abs(caller.heard_since(before)).max() > 1000, "three-way: the caller hears the agents again"
    bob.screenshot(path=str(DOCS / "console-consult.png"))

    alice.get_by_role("button", name="Complete transfer").click()
    expect(alice.get_by_role("group", name="Call audio")).to_have_count(0)  # her leg is gone: the call is bob's
    ix = http.get(f"/api/interactions/{ix_id}").json()
    assert (ix["assigned_to"], ix["status"], ix["consult"]) == ("bob", "claimed", None)

    # Bob's consult connection is now his agent softphone: same connection, no new offer, hold and mute work.
    expect(notice).to_have_count(0)
    call_audio = bob.get_by_role("group", name="Call audio")
    expect(call_audio.get_by_role("status")).to_have_text("Audio connected")
    before = len(caller.media)
    assert np.abs(caller.heard_since(before)).max() > 1000, "bob's microphone reaches the caller"
    assert len(offers) == 1, "the consult connection was kept, not replaced"
    with bob.expect_response("**/hold") as held:
        call_audio.get_by_role("button", name="Hold").click()
    assert held.value.json() == {"on": True}
    expect(call_audio.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    feed = http.get(f"/api/interactions/{ix_id}").json()["activity"]
    assert [a["data"]["status"] for a in feed if a["kind"] == "call_control"] == ["three_way", "hold"]
    assert any(a["kind"] == "consult_joined" and a["by"] == "bob" for a in feed)
    caller.close()
    alice.close()
    bob.close()
