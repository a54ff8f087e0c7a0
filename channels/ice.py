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
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from contextvars import ContextVar

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

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
            raise ValueError(f"media address {address} is not one of this machine's addresses ({exc.strerror})") from None


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


class MediaPeerConnection(RTCPeerConnection):
    """An aiortc peer connection whose host candidates are ``addresses`` (none named: aioice's default).

    No STUN or TURN server unless given: nothing reaches outside for a reflexive address.
    """

    def __init__(self, addresses: Iterable[str] = (), ice_servers: list[RTCIceServer] | None = None) -> None:
        super().__init__(RTCConfiguration(iceServers=ice_servers or []))
        self.media_addresses = tuple(addresses)

    async def setLocalDescription(self, sessionDescription: RTCSessionDescription | None = None) -> None:
        """aiortc gathers here; the tasks it starts inherit this context, so they see these addresses alone."""
        token = _gathering_for.set(self.media_addresses or None)
        try:
            await super().setLocalDescription(sessionDescription)
        finally:
            _gathering_for.reset(token)
