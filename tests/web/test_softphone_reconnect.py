"""The console's softphone connects again by itself when the call's audio moves (``interaction.audio_moved``).

One gateway process and a fake Twilio call that follows the TwiML (bench/twilio_fake_call.py): the test cuts the
caller's media stream without ``stop`` (as when the process holding it dies), Twilio asks the ``<Connect action>``
what next and opens the resumed stream it is told, the gateway takes the call over and commits the move, and the
browsers that were on the call offer again, with no click, in the part they had (agent muted as they left it; a
supervisor in the mode they had).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from bench.twilio_fake_call import TwilioCall
from tests.processes import GatewayProcess, twilio_gateway
from tests.web.conftest import PASSWORD, login
from tests.web.webrtc import Loop, watch_peer_connections

SID, TOKEN, ADMIN_TOKEN = "AC" + "5" * 32, "reconnect-twilio-token", "reconnect-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER, NUMBER, CALLER_HZ = "+14155550100", "+15550001000", 440.0
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

#: The newest peer connection of the page is connected and has received 1.5 s of audio, loud at the end (the
#: caller's tone; a silent call has an audio level near 0).
_HEARS = """
async () => {
  const pcs = window.__peerConnections || [];
  const pc = pcs[pcs.length - 1];
  if (!pc || pc.connectionState !== "connected") return false;
  const inbound = [...(await pc.getStats()).values()].find((s) => s.type === "inbound-rtp" && s.kind === "audio");
  return Boolean(inbound && inbound.totalSamplesDuration > 1.5 && inbound.audioLevel > 0.05);
}
"""


@pytest.fixture
def server(tmp_path) -> Iterator[GatewayProcess]:
    with twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN) as gp:
        http = httpx.Client(base_url=gp.url, timeout=20, headers=ADMIN)
        http.post("/api/queues", json={"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER}})
        for user in (
            {"username": "alice", "name": "Alice", "queues": ["sales"]},
            {"username": "sam", "name": "Sam", "role": "supervisor", "queues": ["sales"]},
        ):
            http.post("/api/users", json={**user, "password": PASSWORD}).raise_for_status()
        yield gp


@pytest.fixture
def loop() -> Loop:
    return Loop()


@pytest.fixture
def caller(server: GatewayProcess, loop: Loop) -> Iterator[TwilioCall]:
    call = TwilioCall(CALLER_HZ, account_sid=SID)
    loop.run(call.dial(server.url, server.ws_url, TOKEN, "CA9", CALLER, NUMBER))
    yield call
    loop.run(call.close())


def interaction(server: GatewayProcess, caller: TwilioCall) -> dict:
    ix_id = caller.legs[0].params["interaction"]
    return httpx.get(f"{server.url}/api/interactions/{ix_id}", headers=ADMIN).json()


def loud(pcm: np.ndarray) -> bool:
    return len(pcm) > 0 and np.abs(pcm).max() > 1000  # Chromium's fake microphone beeps


def hears_the_browser(loop: Loop, caller: TwilioCall) -> None:
    t = time.monotonic()
    loop.run(caller.ear.until(lambda: loud(caller.ear.since(t)), 15))


def drop_the_stream(loop: Loop, caller: TwilioCall) -> None:
    """The caller's media stream closes without ``stop``; the fake Twilio then follows the ``<Connect action>`` to
    the resumed stream, which the gateway takes over."""
    assert caller._ws is not None
    loop.run(caller._ws.close())
    loop.run(caller.until(lambda: len(caller.legs) == 2, "the resumed stream"))
    assert caller.legs[1].params.get("resumed") == "1", caller.legs[1].params


def moved(server: GatewayProcess, caller: TwilioCall) -> list[dict]:
    activity = interaction(server, caller)["activity"]
    return [a for a in activity if a["kind"] == "audio" and a["data"].get("status") == "moved"]


def open_call(page: Page, server: GatewayProcess, caller: TwilioCall, username: str) -> None:
    watch_peer_connections(page)
    login(page, server, username)
    page.goto(f"{server.url}/#/ix/{caller.legs[0].params['interaction']}")


def alice_on_the_call(browser: Browser, server: GatewayProcess, caller: TwilioCall) -> tuple[Page, Locator, Locator]:
    """Alice claims the call in the console and connects its audio: (her page, the call audio group, its status)."""
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    open_call(page, server, caller, "alice")
    page.get_by_role("button", name="Claim").click()
    audio = page.get_by_role("group", name="Call audio")
    audio.get_by_role("button", name="Connect audio").click()
    status = audio.get_by_role("status")
    expect(status).to_have_text("Audio connected", timeout=15_000)
    return page, audio, status


def peer_states(page: Page) -> list[str]:
    return page.evaluate("(window.__peerConnections || []).map((pc) => pc.connectionState)")


def test_the_agents_audio_comes_back_by_itself_when_the_call_moves(
    server: GatewayProcess, browser: Browser, loop: Loop, caller: TwilioCall
):
    ix_id = caller.legs[0].params["interaction"]
    page, audio, status = alice_on_the_call(browser, server, caller)
    hears_the_browser(loop, caller)
    audio.get_by_role("button", name="Mute").click()
    expect(audio.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")

    # No process holds the call for a while: the console's offers are answered 409 no_live_call until the test lets
    # them through (the 409 a browser gets from the gateway between a process's death and the takeover).
    gate = {"open": False, "refused": 0, "offers": []}

    def offers(route) -> None:
        gate["offers"].append(json.loads(route.request.post_data or "{}"))
        if gate["open"]:
            route.continue_()
            return
        gate["refused"] += 1
        body = {"error": "no_live_call", "detail": "No gateway process holds this call right now."}
        route.fulfill(status=409, json=body, headers={"Retry-After": "1"})

    page.route("**/api/webrtc/offer", offers)
    drop_the_stream(loop, caller)
    expect(status).to_have_text("Reconnecting audio…", timeout=15_000)
    expect(status).to_have_attribute("aria-live", "polite")
    assert len(moved(server, caller)) == 1, "the takeover recorded the move"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "softphone-reconnecting.png"))
    assert page.evaluate("document.activeElement.dataset.key") == "mute", "the reconnect does not take the focus"
    if not gate["refused"]:  # the first offer again may still be gathering its candidates
        page.wait_for_event("response", lambda r: r.url.endswith("/api/webrtc/offer") and r.status == 409)
    gate["open"] = True

    expect(status).to_have_text("Audio connected", timeout=20_000)
    assert gate["refused"] >= 1 and all(o["interaction_id"] == ix_id and "mode" not in o for o in gate["offers"])
    states = peer_states(page)
    assert states[0] == "closed" and states[-1] == "connected", states
    expect(audio.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")

    # Muted as the agent left it: the caller's tone reaches the console, the console's microphone not the caller.
    t = time.monotonic()
    page.wait_for_function(_HEARS, polling=200, timeout=15_000)
    assert not loud(caller.ear.since(t)), "still muted after the reconnect"
    audio.get_by_role("button", name="Unmute").click()
    hears_the_browser(loop, caller)

    ix = interaction(server, caller)
    assert (ix["status"], ix["assigned_to"]) == ("claimed", "alice")
    assert "agent" in ix["call"]["on_line"], ix["call"]
    page.close()


def test_a_supervisor_whispering_is_reconnected_whispering(
    server: GatewayProcess, browser: Browser, loop: Loop, caller: TwilioCall
):
    ix_id = caller.legs[0].params["interaction"]
    alice = httpx.post(f"{server.url}/api/auth/login", json={"username": "alice", "password": PASSWORD}).json()
    httpx.post(
        f"{server.url}/api/interactions/{ix_id}/claim", headers={"Authorization": f"Bearer {alice['token']}"}
    ).raise_for_status()
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    offers: list[dict] = []

    def offer(route) -> None:
        offers.append(json.loads(route.request.post_data or "{}"))
        route.continue_()

    page.route("**/api/webrtc/offer", offer)
    open_call(page, server, caller, "sam")
    monitor = page.get_by_role("group", name="Monitor call")
    monitor.get_by_role("button", name="Listen", exact=True).click()
    status = monitor.get_by_role("status")
    expect(status).to_have_text("Audio connected", timeout=15_000)
    whisper = monitor.get_by_role("button", name="Whisper", exact=True)
    whisper.click()
    expect(whisper).to_have_attribute("aria-pressed", "true")
    page.get_by_role("tab", name="activity").click()
    expect(page.get_by_role("list", name="Activity feed")).to_contain_text("Sam is whispering to the agent")

    drop_the_stream(loop, caller)
    page.wait_for_function("() => window.__peerConnections.length >= 2", timeout=15_000)
    expect(status).to_have_text("Audio connected", timeout=20_000)
    states = peer_states(page)
    assert states[0] == "closed" and states[-1] == "connected", states
    assert [o.get("mode") for o in offers] == ["listen", "whisper"], [o.get("mode") for o in offers]
    expect(whisper).to_have_attribute("aria-pressed", "true")
    assert interaction(server, caller)["call"]["monitors"] == {"sam": "whisper"}
    t = time.monotonic()
    page.wait_for_function(_HEARS, polling=200, timeout=15_000)  # the supervisor hears the caller again
    assert not loud(caller.ear.since(t)), "whispering: the caller does not hear the supervisor"
    page.close()


def test_disconnecting_while_reconnecting_sends_no_offer_after_the_leave(
    server: GatewayProcess, browser: Browser, loop: Loop, caller: TwilioCall
):
    """The agent gives up on the audio while it is reconnecting, with an offer on its way: that offer is cut off
    and the phone closes before the gateway is told, so no offer of the reconnect can follow the leave (and give
    the gateway a fresh leg the agent did not want)."""
    ix_id = caller.legs[0].params["interaction"]
    page, audio, status = alice_on_the_call(browser, server, caller)

    # No process holds the call: the first offer again is answered 409 no_live_call, the next one hangs (on its way
    # when the agent gives up).
    refused: list[str] = []
    hanging = []

    def offers(route) -> None:
        if refused:
            hanging.append(route)  # never answered
            return
        refused.append(route.request.url)
        body = {"error": "no_live_call", "detail": "No gateway process holds this call right now."}
        route.fulfill(status=409, json=body, headers={"Retry-After": "1"})

    page.route("**/api/webrtc/offer", offers)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url.rsplit("/", 2)[-1]) if r.method == "POST" else None)
    seen = {"offers": 0}

    def second_offer(request) -> bool:
        if request.url.endswith("/api/webrtc/offer"):
            seen["offers"] += 1
        return seen["offers"] == 2

    with page.expect_request(second_offer, timeout=20_000):
        drop_the_stream(loop, caller)
    expect(status).to_have_text("Reconnecting audio…")

    def is_offer(request) -> bool:
        return request.url.endswith("/api/webrtc/offer")

    with (
        page.expect_event("requestfailed", is_offer, timeout=10_000) as aborted,
        page.expect_response(f"**/api/interactions/{ix_id}/audio/leave") as left,
    ):
        audio.get_by_role("button", name="Disconnect audio").click()
    assert aborted.value.failure, "the offer on its way was cut off"
    assert left.value.status in (204, 409), left.value.status  # 409: the gateway had no leg of hers left
    expect(audio.get_by_role("button", name="Connect audio")).to_be_enabled()
    assert "leave" in sent and "offer" not in sent[sent.index("leave") :], sent
    page.close()
