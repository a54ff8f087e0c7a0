"""Media stays where it is told: WebRTC binds and advertises the named addresses alone, loopback included.

Every test names 127.0.0.1 (`tests.processes.MEDIA_ADDRESSES`), so a call's
audio never goes to the machine's other interfaces; these tests check the
candidates each end gathered and the pair ICE selected, on both ends.
"""

from __future__ import annotations

import asyncio

import aioice.ice
import httpx
import pytest

from channels.ice import MediaPeerConnection, check_bindable, parse_addresses
from channels.mixer import Role
from channels.voice_bridge import AGENT, Bridge
from tests.channels.peers import Browser, Phone, route_of
from tests.channels.test_voice_bridge import ADMIN_TOKEN, SID, TOKEN, setup_call
from tests.processes import MEDIA_ADDRESSES, twilio_gateway

LOOPBACK = "127.0.0.1"
CALLER_HZ, AGENT_HZ = 1000.0, 440.0


def test_named_addresses_are_parsed_and_anything_unusable_refused():
    assert parse_addresses("") == ()
    assert parse_addresses(" 127.0.0.1, ::1 ,127.0.0.1,") == ("127.0.0.1", "::1")
    for bad in ("media.example.com", "0.0.0.0", "::", "224.0.0.1", "fe80::1", "127.0.0.1:5000"):
        with pytest.raises(ValueError):
            parse_addresses(bad)


def test_an_address_not_on_this_machine_is_refused_at_start_up():
    check_bindable(MEDIA_ADDRESSES)
    with pytest.raises(ValueError, match="not one of this machine's addresses"):
        check_bindable(["198.51.100.7"])  # TEST-NET-2: on no interface


async def gathered(pc: MediaPeerConnection) -> set[str]:
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    addresses = {c.ip for c in pc.getTransceivers()[0].sender.transport.transport.iceGatherer.getLocalCandidates()}
    await pc.close()
    return addresses


async def test_nothing_named_keeps_aioices_default_even_while_another_connection_gathers_on_named_ones():
    named, unnamed = await asyncio.gather(gathered(MediaPeerConnection(MEDIA_ADDRESSES)), gathered(MediaPeerConnection()))
    assert named == {LOOPBACK}
    assert unnamed == set(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True))  # outside a gathering: aioice's own answer
    assert LOOPBACK not in unnamed


async def test_a_bridged_call_binds_and_advertises_loopback_alone_on_both_ends():
    bridge = Bridge("ix-ice", media_addresses=MEDIA_ADDRESSES)
    browser = Browser(AGENT_HZ)
    try:
        offer = await browser.offer()
        answer = await bridge.connect_peer(AGENT, Role.AGENT, offer["sdp"], offer["type"])
        await browser.pc.setRemoteDescription(answer)
        await browser.ear.until(lambda: bool(browser.ear.chunks))  # the bridge's audio arrives: ICE and DTLS are up
        for route in (route_of(browser.pc), route_of(bridge.legs[AGENT].pc)):
            assert route.gathered == (LOOPBACK,), route
            assert set(route.remote_candidates) == {LOOPBACK}, route
            assert (route.local, route.remote) == (LOOPBACK, LOOPBACK), route
    finally:
        await browser.close()
        await bridge.close()


async def test_a_call_through_a_gateway_process_stays_on_loopback(tmp_path):
    """The setting as deployed: GATEWAY_MEDIA_ADDRESSES (tests/processes.py) read by a real gateway process."""
    with twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            ix_id, agent = await setup_call(http, server)
            phone, browser = Phone(server.ws_url, TOKEN, CALLER_HZ), Browser(AGENT_HZ)
            await phone.start("CA1", "MZ1", {"interaction": ix_id})
            try:
                r = await browser.connect(http, "/api/webrtc/offer", {"interaction_id": ix_id}, agent)
                assert r.status_code == 200, r.text
                assert {line.split()[4] for line in r.json()["sdp"].splitlines() if line.startswith("a=candidate:")} == {LOOPBACK}, "the gateway advertises loopback alone"
                await browser.ear.until(lambda: browser.ear.hears(CALLER_HZ, 0) > 0.5)  # the caller's tone, over the selected pair
                route = route_of(browser.pc)
                assert route.gathered == (LOOPBACK,) and set(route.remote_candidates) == {LOOPBACK}, route
                assert (route.local, route.remote) == (LOOPBACK, LOOPBACK), route
            finally:
                await browser.close()
                await phone.stop()
