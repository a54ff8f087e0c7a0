"""Media stays where it is told: WebRTC binds and advertises the named addresses alone, loopback included.

Every test names 127.0.0.1 (`tests.processes.MEDIA_ADDRESSES`), so a call's
audio never goes to the machine's other interfaces; these tests check the
candidates each end gathered and the pair ICE selected, on both ends, and that
a leg on loopback alone neither pairs with nor answers anything off loopback.
"""

from __future__ import annotations

import asyncio

import aioice.ice
import httpx
import pytest
from aioice import stun
from aiortc import RTCIceServer, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from bench.peers import Browser, Phone, live_audio_connected, route_of
from channels.ice import MediaPeerConnection, check_bindable, is_loopback, loopback_candidates_only, parse_addresses
from channels.mixer import Part
from channels.voice_bridge import AGENT, Bridge
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
    named, unnamed = await asyncio.gather(
        gathered(MediaPeerConnection(MEDIA_ADDRESSES)), gathered(MediaPeerConnection())
    )
    assert named == {LOOPBACK}
    assert unnamed == set(
        aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    )  # outside a gathering: aioice's own answer
    assert LOOPBACK not in unnamed


OFF_LOOPBACK = ("198.51.100.7", "2001:db8::7")  # documentation addresses, on no interface: nothing is sent to them


def test_only_loopback_ip_literals_count_as_loopback():
    assert all(map(is_loopback, ("127.0.0.1", "127.3.4.5", "::1")))
    assert not any(
        map(is_loopback, ("192.0.2.2", "fd00::2", "0f2c9e53-1d33-4c5e-9b3a-fd0e0c6f6a11.local", "localhost", ""))
    )
    sdp = (
        "v=0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
        "a=candidate:2 1 udp 2122194687 0f2c9e53-1d33-4c5e-9b3a-fd0e0c6f6a11.local 50001 typ host\r\n"
        "a=candidate:3 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active\r\n"
        "a=candidate:broken\r\na=end-of-candidates\r\n"
    )
    assert (
        loopback_candidates_only(sdp)
        == "v=0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n"
    )


async def remote_candidates_kept(answerer: MediaPeerConnection) -> set[str]:
    """The addresses ``answerer`` keeps from an offer (127.0.0.1) given two more candidates and a trickled third.

    It never gathers, so it pairs with nothing and sends nothing.
    """
    offerer = MediaPeerConnection(MEDIA_ADDRESSES)
    offerer.addTransceiver("audio", direction="sendrecv")
    await offerer.setLocalDescription(await offerer.createOffer())
    extra = "".join(
        f"a=candidate:{9 + i} 1 udp 2122260223 {ip} 50000 typ host\r\n" for i, ip in enumerate(OFF_LOOPBACK)
    )
    sdp = offerer.localDescription.sdp.replace("a=end-of-candidates\r\n", extra)  # and more may trickle
    assert sdp.count("a=candidate:") == 3
    try:
        await answerer.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        trickled = candidate_from_sdp("11 1 udp 2122260223 198.51.100.8 50001 typ host")
        trickled.sdpMid = answerer.getTransceivers()[0].mid
        await answerer.addIceCandidate(trickled)
        return {c.ip for c in answerer.getTransceivers()[0].receiver.transport.transport.getRemoteCandidates()}
    finally:
        await answerer.close()
        await offerer.close()


async def test_a_loopback_leg_drops_remote_candidates_off_loopback_and_nothing_else_does():
    assert await remote_candidates_kept(MediaPeerConnection(MEDIA_ADDRESSES)) == {LOOPBACK}
    assert await remote_candidates_kept(MediaPeerConnection()) == {LOOPBACK, *OFF_LOOPBACK, "198.51.100.8"}


class SentStun:
    """Stands in for aioice's socket (a StunProtocol) under a request: records where it would answer, sends nothing.

    (Before connect(), aioice answers a request and keeps it for later: it asks its socket nothing else.)
    """

    def __init__(self) -> None:
        self.sent_to: list[str] = []

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        self.sent_to.append(addr[0])


async def answered(pc: MediaPeerConnection) -> list[str]:
    """Where ``pc``, once gathered, answers a valid binding request arriving from off loopback, then from loopback."""
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())  # controlling, gathered, no remote end: not connecting yet
    connection = pc.getTransceivers()[
        0
    ].sender.transport.transport._connection  # aiortc keeps its aioice connection private
    socket = SentStun()
    try:
        for source in (*OFF_LOOPBACK, LOOPBACK):
            request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
            request.attributes.update(
                {"USERNAME": f"{connection.local_username}:peer", "PRIORITY": 1, "ICE-CONTROLLED": 1}
            )
            request.add_message_integrity(connection.local_password.encode())
            connection.request_received(request, (source, 50000), socket)
        return socket.sent_to
    finally:
        await pc.close()


async def test_a_loopback_leg_ignores_stun_requests_from_off_loopback_and_nothing_else_does():
    """Unanswered, the sender's check fails; unseen, its source is not learned as a peer-reflexive candidate either."""
    assert await answered(MediaPeerConnection(MEDIA_ADDRESSES)) == [LOOPBACK]
    assert await answered(MediaPeerConnection()) == [*OFF_LOOPBACK, LOOPBACK]


def test_a_loopback_leg_takes_no_stun_server():
    with pytest.raises(ValueError, match="no STUN or TURN server"):
        MediaPeerConnection(MEDIA_ADDRESSES, [RTCIceServer("stun:stun.example.com:3478")])


async def test_a_bridged_call_binds_and_advertises_loopback_alone_on_both_ends():
    bridge = Bridge("ix-ice", media_addresses=MEDIA_ADDRESSES)
    browser = Browser(AGENT_HZ)
    try:
        offer = await browser.offer()
        answer = await bridge.connect_peer(AGENT, Part.AGENT, offer["sdp"], offer["type"])
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
            await live_audio_connected(http, ix_id, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
            try:
                r = await browser.connect(http, "/api/webrtc/offer", {"interaction_id": ix_id}, agent)
                assert r.status_code == 200, r.text
                assert {
                    line.split()[4] for line in r.json()["sdp"].splitlines() if line.startswith("a=candidate:")
                } == {LOOPBACK}, "the gateway advertises loopback alone"
                await browser.ear.until(
                    lambda: browser.ear.hears(CALLER_HZ, 0) > 0.5
                )  # the caller's tone, over the selected pair
                route = route_of(browser.pc)
                assert route.gathered == (LOOPBACK,) and set(route.remote_candidates) == {LOOPBACK}, route
                assert (route.local, route.remote) == (LOOPBACK, LOOPBACK), route
            finally:
                await browser.close()
                await phone.stop()
