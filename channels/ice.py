"""Where WebRTC media binds and what it advertises: host candidates on the named addresses only.

aioice (aiortc's ICE) gathers a host candidate on every interface address
except loopback, so by default a call's audio goes to whatever address the
machine happens to have, and a machine with nothing but loopback cannot
connect at all.  A deployment names its media addresses instead
(``GATEWAY_MEDIA_ADDRESSES``, like Janus' ``nat_1_1_mapping`` or mediasoup's
``announcedIp``, except that the address is also the one bound); tests and
benches name 127.0.0.1, so the gateway and the test peers keep media on loopback.

Neither aioice 0.13 nor aiortc 1.16 takes a list of addresses, so this module
wraps ``aioice.ice.get_host_addresses`` (the one function gathering asks for
the addresses to bind) with a version that returns the addresses of the peer
connection being gathered for, read from a context variable that
`MediaPeerConnection.setLocalDescription` sets around aiortc's gathering.
Anything else (a peer connection with no addresses named, other aioice
users) still gets aioice's own answer.  Named addresses are taken as they are,
loopback included, which aioice alone never offers.  Should a later aioice stop
asking that function, tests/channels/test_ice.py fails rather than media
quietly spreading again.

A peer connection whose named addresses are all loopback can only be reached
from loopback, so it holds the other end there too (`MediaPeerConnection.loopback_only`).
A browser offers its other interfaces' addresses beside 127.0.0.1, and its ICE
prefers them; such a connection (a) drops every remote candidate that is not a
loopback IP literal before aiortc sees it (mDNS names too, so nothing is sent
to resolve them) and (b) ignores STUN binding requests from any other source:
no response, no peer-reflexive candidate, no triggered check.  The browser's
checks from, say, its ethernet address fail, and it nominates its loopback
pair.  With no STUN or TURN server, every packet aioice sends then goes to a
loopback address.  Filter (b) wraps `aioice.Connection.request_received` (the
method aioice's sockets hand each incoming STUN request to) on that
connection's own aioice connections alone; the Chromium tests (tests/web)
assert the loopback pair, so a later aioice that stops calling it shows.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from contextvars import ContextVar

import aioice.ice
from aioice import stun
from aiortc import RTCConfiguration, RTCIceCandidate, RTCIceServer, RTCPeerConnection, RTCSessionDescription

log = logging.getLogger("channels.ice")

#: The addresses of the peer connection whose candidates are being gathered; None: aioice's default.
_gathering_for: ContextVar[tuple[str, ...] | None] = ContextVar("media_addresses", default=None)


def parse_addresses(text: str) -> tuple[str, ...]:
    """``"127.0.0.1, ::1"`` -> ``("127.0.0.1", "::1")``; empty: none named.

    Only unicast IP literals a socket can bind and a peer can reach: a name would
    be advertised as it is, a wildcard advertises nothing usable, and a link-local
    IPv6 address needs a scope aioice drops.
    """
    addresses = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(f"media address {item!r} is not an IP address") from None
        if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
            raise ValueError(f"media address {item!r} cannot carry a call: name a unicast address of this machine")
        addresses.append(str(ip))
    return tuple(dict.fromkeys(addresses))


def check_bindable(addresses: Iterable[str]) -> None:
    """Raises if an address is not this machine's, so a wrong setting stops start-up rather than every call.

    (aioice alone would log the failed bind and offer no candidate: calls would fail later, one by one.)
    """
    for address in addresses:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.bind((address, 0))
        except OSError as exc:
            raise ValueError(
                f"media address {address} is not one of this machine's addresses ({exc.strerror})"
            ) from None


#: aioice's own function (unwrapped, should this module be loaded twice).
_aioice_host_addresses = getattr(aioice.ice.get_host_addresses, "__wrapped__", aioice.ice.get_host_addresses)


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """aioice's hook: the named addresses (of the families in use) while a `MediaPeerConnection` gathers."""
    named = _gathering_for.get()
    if named is None:
        return _aioice_host_addresses(use_ipv4, use_ipv6)
    return [a for a in named if (use_ipv6 if ipaddress.ip_address(a).version == 6 else use_ipv4)]


_host_addresses.__wrapped__ = _aioice_host_addresses  # type: ignore[attr-defined]
aioice.ice.get_host_addresses = _host_addresses


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback IP literal; a name (an mDNS ``.local`` one included) is not."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def loopback_candidates_only(sdp: str) -> str:
    """``sdp`` without the ``a=candidate`` lines whose address (the fifth field) is not a loopback IP literal."""

    def keep(line: str) -> bool:
        fields = line.split()  # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
        return not line.startswith("a=candidate:") or (len(fields) > 4 and is_loopback(fields[4]))

    return "".join(line for line in sdp.splitlines(keepends=True) if keep(line))


def answer_loopback_only(connection: aioice.Connection) -> None:
    """From now on ``connection`` ignores STUN requests whose source is not loopback (idempotent).

    aioice answers every authenticated binding request where it came from and learns its source as a
    peer-reflexive candidate; a request it never sees gets neither, so the sender's check fails.
    """
    if "request_received" in vars(connection):
        return
    answer = connection.request_received

    def request_received(message: stun.Message, addr: tuple[str, int], protocol: aioice.ice.StunProtocol) -> None:
        if is_loopback(addr[0]):
            answer(message, addr, protocol)
        else:
            log.debug("ignored a STUN request from %s: this media leg is loopback only", addr[0])

    connection.request_received = request_received  # type: ignore[method-assign]


class MediaPeerConnection(RTCPeerConnection):
    """An aiortc peer connection whose host candidates are ``addresses`` (none named: aioice's default).

    No STUN or TURN server unless given: nothing reaches outside for a reflexive address.  Named
    addresses all loopback: the other end is held to loopback too (see the module's docstring).
    """

    def __init__(self, addresses: Iterable[str] = (), ice_servers: list[RTCIceServer] | None = None) -> None:
        self.media_addresses = tuple(addresses)
        #: Every named address loopback: remote candidates and STUN requests from anywhere else are ignored.
        self.loopback_only = bool(self.media_addresses) and all(is_loopback(a) for a in self.media_addresses)
        if self.loopback_only and ice_servers:
            raise ValueError("media held to loopback takes no STUN or TURN server: aioice would send to it")
        super().__init__(RTCConfiguration(iceServers=ice_servers or []))

    def _ice_connections(self) -> list[aioice.Connection]:
        """The aioice connection under each of this peer connection's ICE transports (aiortc keeps it private)."""
        transports = {t.receiver.transport.transport for t in self.getTransceivers()}
        if self.sctp is not None:
            transports.add(self.sctp.transport.transport)
        return [t.iceGatherer._connection for t in transports]

    async def setLocalDescription(self, sessionDescription: RTCSessionDescription | None = None) -> None:
        """aiortc gathers here; the tasks it starts inherit this context, so they see these addresses alone.

        Loopback only: the filter on incoming requests is in place before gathering binds a socket.
        """
        if self.loopback_only:
            for connection in self._ice_connections():
                answer_loopback_only(connection)
        token = _gathering_for.set(self.media_addresses or None)
        try:
            await super().setLocalDescription(sessionDescription)
        finally:
            _gathering_for.reset(token)

    async def setRemoteDescription(self, sessionDescription: RTCSessionDescription) -> None:
        """Loopback only: the description's other candidates never reach aiortc."""
        if self.loopback_only:
            sessionDescription = RTCSessionDescription(
                sdp=loopback_candidates_only(sessionDescription.sdp), type=sessionDescription.type
            )
        await super().setRemoteDescription(sessionDescription)

    async def addIceCandidate(self, candidate: RTCIceCandidate | None) -> None:
        """A trickled candidate, with the same rule as the description's."""
        if self.loopback_only and candidate is not None and not is_loopback(candidate.ip):
            log.debug("dropped remote candidate %s: this media leg is loopback only", candidate.ip)
            return
        await super().addIceCandidate(candidate)
