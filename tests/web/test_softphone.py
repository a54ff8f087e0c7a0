"""The console's softphone in Chromium: its (fake) microphone reaches the caller through the voice bridge; hold
clears."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, expect
from twilio.request_validator import RequestValidator
from websockets.sync.client import connect

from channels.audio import MulawDecoder
from tests.processes import GatewayProcess, twilio_gateway
from tests.web.conftest import DOCS
from tests.web.webrtc import routes_of, watch_peer_connections

SID, TOKEN, ADMIN_TOKEN = "AC" + "3" * 32, "softphone-twilio-token", "softphone-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def server(tmp_path) -> Iterator[GatewayProcess]:
    with twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN) as gp:
        yield gp


def test_agent_talks_to_the_caller_from_the_console(server: GatewayProcess, browser: Browser):
    http = httpx.Client(base_url=server.url, timeout=20)
    http.post(
        "/api/queues",
        json={"id": "sales", "name": "Sales", "settings": {"phone_number": "+15550001000"}},
        headers=ADMIN,
    )
    http.post(
        "/api/users",
        json={"username": "alice", "name": "Alice", "queues": ["sales"], "password": "correct horse"},
        headers=ADMIN,
    )
    params = {"CallSid": "CA9", "From": "+14155550100", "To": "+15550001000", "CallStatus": "ringing"}
    sig = RequestValidator(TOKEN).compute_signature(f"{server.url}/webhooks/twilio/voice", params)
    twiml = http.post("/webhooks/twilio/voice", data=params, headers={"X-Twilio-Signature": sig}).text
    ix_id = twiml.split('name="interaction" value="')[1].split('"')[0]

    url = f"{server.ws_url}/webhooks/twilio/media"
    twilio = connect(url, additional_headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})})
    twilio.send(
        json.dumps(
            {
                "event": "start",
                "streamSid": "MZ9",
                "start": {"streamSid": "MZ9", "callSid": "CA9", "customParameters": {"interaction": ix_id}},
            }
        )
    )
    media, cleared, enough = [], threading.Event(), threading.Event()

    def collect():
        try:
            for text in twilio:
                msg = json.loads(text)
                if msg["event"] == "media":
                    media.append(base64.b64decode(msg["media"]["payload"]))
                    if len(media) >= 50:
                        enough.set()
                elif msg["event"] == "clear":
                    cleared.set()
        except Exception:
            pass

    threading.Thread(target=collect, daemon=True).start()

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    watch_peer_connections(page)
    page.goto(server.url + "/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    offer = page.get_by_role("region", name="Incoming interaction")
    expect(offer).to_contain_text("+14155550100 · call/phone")
    offer.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Connect audio").click()
    audio = page.get_by_role("group", name="Call audio")
    expect(audio).to_contain_text("Audio connected", timeout=15_000)
    assert enough.wait(15), "the browser's microphone reaches the caller"
    decoder = MulawDecoder()
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for chunk in media for f in decoder.pcm8k(chunk)])
    assert np.abs(pcm).max() > 1000, "not silence: Chromium's fake microphone beeps"
    [route] = routes_of(page)  # the gateway holds Chromium's pair to loopback on both ends (channels/ice.py)
    assert (route.local, route.remote, set(route.remote_candidates)) == ("127.0.0.1", "127.0.0.1", {"127.0.0.1"}), route
    audio.get_by_role("button", name="Hold").click()
    assert cleared.wait(10), "hold flushes what Twilio has queued"
    expect(audio.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(DOCS / "workspace-call.png"))
    feed = http.get(f"/api/interactions/{ix_id}", headers=ADMIN).json()["activity"]
    assert any(a["kind"] == "call_control" and a["data"]["status"] == "hold" for a in feed)
    # A reload connects the audio afresh: the call stays on hold, and the controls say so.
    page.reload()
    page.get_by_role("button", name="Connect audio").click()
    expect(audio).to_contain_text("Audio connected", timeout=15_000)
    expect(audio.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    # The controls show the call's state as the server keeps it: a resume given elsewhere (here an admin) shows at once.
    http.post(f"/api/interactions/{ix_id}/hold", json={"on": False}, headers=ADMIN).raise_for_status()
    expect(audio.get_by_role("button", name="Hold")).to_have_attribute("aria-pressed", "false")
    twilio.close()
    page.close()
