"""A voicemail in real Chromium, in the queue's default tabs: its recording is a player whose source serves the audio
and its transcript is read beside it, whichever tab is picked (the player once sat in a tab that was not shown)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect
from twilio.request_validator import RequestValidator

from tests.fake_twilio import AUDIO, FakeTwilio
from tests.processes import GatewayProcess, twilio_gateway
from tests.web.conftest import DOCS, PASSWORD, login

SID, TOKEN, ADMIN_TOKEN = "AC" + "7" * 32, "voicemail-ui-twilio-token", "voicemail-ui-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER, NUMBER, CALL = "+14155550100", "+15550001000", "CA71"


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[GatewayProcess, FakeTwilio]]:
    with (
        FakeTwilio(SID, TOKEN) as fake,
        twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN, TWILIO_API_BASE=fake.url) as gp,
    ):
        http = httpx.Client(base_url=gp.url, timeout=20, headers=ADMIN)
        http.post(
            "/api/queues",
            json={"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER, "voicemail": True}},
        ).raise_for_status()
        http.post(
            "/api/users", json={"username": "alice", "name": "Alice Agent", "queues": ["sales"], "password": PASSWORD}
        ).raise_for_status()
        yield gp, fake


def twilio_posts(server: GatewayProcess, path: str, params: dict[str, str]) -> httpx.Response:
    """A webhook as Twilio sends it: form-encoded, signed for the gateway's public URL."""
    url = f"{server.url}/webhooks/twilio/{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=20)


def test_a_voicemail_plays_in_the_default_tabs(server: tuple[GatewayProcess, FakeTwilio], browser: Browser):
    gp, fake = server
    # Nobody is signed in: the caller is asked for a message, and leaves one.
    call = {"CallSid": CALL, "AccountSid": SID, "From": CALLER, "To": NUMBER, "CallStatus": "ringing"}
    assert "<Record" in twilio_posts(gp, "voice", call).text
    recording = {
        "CallSid": CALL,
        "RecordingSid": "RE71",
        "RecordingUrl": f"{fake.url}/recordings/RE71",
        "RecordingStatus": "completed",
        "RecordingDuration": "7",
    }
    assert twilio_posts(gp, "recording", recording).status_code == 204
    said = {"CallSid": CALL, "RecordingSid": "RE71", "TranscriptionSid": "TR71", "TranscriptionStatus": "completed"}
    twilio_posts(gp, "transcription", {**said, "TranscriptionText": "Please call me back about order 4711"})
    [ix] = httpx.get(f"{gp.url}/api/queues/sales/interactions?state=active", headers=ADMIN).json()["items"]
    assert (ix["type"], ix["recordings"][0]["status"]) == ("voicemail", "stored")

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, gp, "alice")
    with page.expect_response(f"**/api/interactions/{ix['id']}/recordings/RE71") as fetched:
        page.goto(f"{gp.url}/#/ix/{ix['id']}")
    audio = fetched.value
    assert (audio.status, audio.headers["content-type"]) == (200, "audio/wav")
    assert httpx.get(audio.url, headers=ADMIN).content == AUDIO  # the caller's message, as Twilio recorded it
    media = page.get_by_role("region", name="Recordings and transcripts")
    expect(media.get_by_role("heading", name="Voicemail")).to_be_visible()
    player = media.locator("audio")
    expect(player).to_be_visible()
    expect(player).to_have_attribute("src", re.compile(r"^blob:"))  # that audio, fetched with the agent's token
    expect(media).to_contain_text("Please call me back about order 4711")
    # Another tab picked: the player and the transcript are still there.
    page.get_by_role("tab", name="activity").click()
    expect(player).to_be_visible()
    expect(media).to_contain_text("Please call me back about order 4711")
    page.screenshot(path=str(DOCS / "workspace-voicemail.png"))
    page.close()
