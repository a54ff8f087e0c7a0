"""The live transcript in Chromium: an agent on a transcribed call watches the transcript tab fill as Twilio's
Real-Time Transcription callbacks arrive (in any order), and finds it on the completed interaction."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect
from twilio.request_validator import RequestValidator

from tests.processes import GatewayProcess, twilio_gateway
from tests.web.conftest import DOCS, PASSWORD, login

SID, TOKEN, ADMIN_TOKEN = "AC" + "5" * 32, "live-transcript-twilio-token", "live-transcript-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER, NUMBER, CALL = "+14155550100", "+15550001000", "CA51"


@pytest.fixture
def server(tmp_path) -> Iterator[GatewayProcess]:
    with twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN) as gp:
        http = httpx.Client(base_url=gp.url, timeout=20, headers=ADMIN)
        http.post(
            "/api/queues",
            json={"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER, "transcription": True}},
        ).raise_for_status()
        http.post(
            "/api/users", json={"username": "alice", "name": "Alice Agent", "queues": ["sales"], "password": PASSWORD}
        ).raise_for_status()
        yield gp


def twilio_posts(server: GatewayProcess, path: str, params: dict[str, str]) -> httpx.Response:
    """A webhook as Twilio sends it: form-encoded, signed for the gateway's public URL."""
    url = f"{server.url}/webhooks/twilio/{path}"
    return httpx.post(
        url,
        data=params,
        headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)},
        timeout=20,
    )


def said(server: GatewayProcess, sequence: int, text: str, track: str) -> None:
    r = twilio_posts(
        server,
        "transcription",
        {
            "AccountSid": SID,
            "CallSid": CALL,
            "TranscriptionSid": "GT51",
            "TranscriptionEvent": "transcription-content",
            "LanguageCode": "en-US",
            "Track": track,
            "TranscriptionData": json.dumps({"transcript": text, "confidence": 0.95}),
            "Final": "true",
            "SequenceId": str(sequence),
            "Timestamp": f"2026-03-01T12:00:{sequence:02d}.000000Z",
        },
    )
    assert r.status_code == 204, r.text


def test_the_transcript_tab_fills_live_in_spoken_order_and_stays_after_completion(
    server: GatewayProcess, browser: Browser
):
    page = browser.new_page(viewport={"width": 1366, "height": 860})
    login(page, server)
    with page.expect_response("**/api/me/presence"):  # away: the call waits in the queue for alice to claim it herself
        page.get_by_label("My status").select_option("away")

    twiml = twilio_posts(
        server, "voice", {"CallSid": CALL, "AccountSid": SID, "From": CALLER, "To": NUMBER, "CallStatus": "ringing"}
    ).text
    assert "<Start><Transcription" in twiml and "statusCallbackUrl=" in twiml
    page.get_by_role("table", name="Active interactions").get_by_role("button", name=f"Claim {CALLER}").click()
    expect(
        page.get_by_role("group", name="Interaction controls").get_by_role("button", name="End · resolved")
    ).to_be_visible()

    tab = page.get_by_role("tab", name="transcript")
    tab.click()
    transcript = page.get_by_role("list", name="Live transcript")
    expect(transcript).to_contain_text("Nothing transcribed yet")

    said(server, 1, "Hi, my parcel has not arrived.", "inbound_track")
    expect(transcript.get_by_role("listitem")).to_have_count(1)
    expect(transcript.get_by_role("listitem").first).to_contain_text("Customer: Hi, my parcel has not arrived.")

    # The agent's reply is delivered after the customer's next words: the tab still reads in spoken order.
    said(server, 3, "It's order 4471.", "inbound_track")
    expect(transcript.get_by_role("listitem")).to_have_count(2)
    said(server, 2, "I'm sorry to hear that. What's the order number?", "outbound_track")
    items = transcript.get_by_role("listitem")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("Customer: Hi, my parcel has not arrived.")
    expect(items.nth(1)).to_contain_text("Agent: I'm sorry to hear that. What's the order number?")
    expect(items.nth(2)).to_contain_text("Customer: It's order 4471.")
    assert [items.nth(i).get_attribute("data-sequence") for i in range(3)] == ["1", "2", "3"]
    page.screenshot(path=str(DOCS / "console-live-transcript.png"))

    # End and complete; a last utterance delivered late still lands in its place on the completed interaction.
    page.get_by_role("button", name="End · resolved").click()
    page.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("button", name="Clone as follow-up")).to_be_visible()
    said(server, 4, "Thanks, bye!", "inbound_track")
    expect(page.get_by_role("list", name="Live transcript").get_by_role("listitem")).to_have_count(4)
    page.reload()
    page.get_by_role("tab", name="transcript").click()
    items = page.get_by_role("list", name="Live transcript").get_by_role("listitem")
    expect(items).to_have_count(4)
    expect(items.nth(3)).to_contain_text("Customer: Thanks, bye!")
