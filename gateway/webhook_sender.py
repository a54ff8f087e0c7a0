"""Outbound webhook requests: where they may go, how they are signed, what came back.

The adapter between the core's webhook rules (``sessions/webhooks.py``) and the network.  It lives in ``gateway/``
beside the hub because the body it sends is the agent socket's own document for the event (``hub.wire``), and
because it is not a provider protocol (``channels/``) but the gateway's own outbound client.

Every request: http(s) only; the host resolved and each of its addresses checked against loopback, link-local,
private, reserved, multicast and unspecified ranges (refused unless ``GATEWAY_WEBHOOKS_ALLOW_PRIVATE=1``); a connect
and a total timeout; redirects never followed (a 3xx is the receiver's answer, which fails the delivery); signed per
Standard Webhooks with every secret currently valid (two during a rotation's grace period).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from standardwebhooks import Webhook

from sessions.errors import InvalidCommand
from sessions.webhooks import check_url

#: Seconds to open the connection, and for the whole request (connect, send, answer).
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
#: Longest error text kept in the delivery log.
MAX_ERROR = 300


class UnsafeAddress(InvalidCommand):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


@dataclass(frozen=True)
class Attempt:
    """What one request gave: an HTTP status, or no answer and why."""

    status: int | None
    error: str | None
    latency_ms: int


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` stands for (itself, if it is one); raises OSError or ValueError if it resolves to none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))


def refusal(host: str, addresses: list[Address]) -> str | None:
    """Why webhooks may not call this host (one of its addresses is not public), or None."""
    bad = [str(a) for a in addresses if _forbidden(a)]
    if not bad:
        return None
    return (
        f"url: {host} is a loopback, link-local, private or reserved address ({bad[0]}); "
        "webhooks only call public addresses (GATEWAY_WEBHOOKS_ALLOW_PRIVATE=1 lifts this, for tests)"
    )


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpx's network layer with the address rule at connect time: the host is resolved here, every address
    checked, and the connection opened to a checked address, so a name that resolves differently a moment later
    (DNS rebinding) cannot slip through.  TLS still verifies the URL's host name (httpcore passes it to start_tls)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except (OSError, ValueError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve ({exc})") from None
        if not self.allow_private and (why := refusal(host, addresses)):
            raise httpcore.ConnectError(why)
        failed: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks call http(s) URLs only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def checked_transport(allow_private: bool) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, its connection pool opening connections through CheckedBackend."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    pool = transport._pool  # httpx builds its pool in __init__ and has no parameter for the network backend
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=pool._ssl_context,
        max_connections=pool._max_connections,
        max_keepalive_connections=pool._max_keepalive_connections,
        keepalive_expiry=pool._keepalive_expiry,
        http1=pool._http1,
        http2=pool._http2,
        network_backend=CheckedBackend(allow_private),
    )
    return transport


def signature(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)


class WebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT,
        total_timeout: float = TOTAL_TIMEOUT,
    ) -> None:
        self.allow_private = allow_private
        self.total_timeout = total_timeout
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the address checked is the one called
            transport=checked_transport(allow_private),
            headers={"user-agent": "switchboard-webhooks/1"},
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def check_destination(self, url: str) -> None:
        """Raises UnsafeAddress (422) for a URL webhooks may not call.  A host that does not resolve passes (it may
        not be published yet; at send time it is a connection error, and the address rule applies again then)."""
        check_url(url)
        if self.allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except (OSError, ValueError):  # ValueError: UnicodeError, not a valid IDNA name
            return
        if why := refusal(host, addresses):
            raise UnsafeAddress(why)

    async def send(self, url: str, msg_id: str, body: str, secrets: list[str]) -> Attempt:
        """One signed POST; never raises for the network or the receiver: the outcome is in the Attempt."""
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            check_url(url)  # the addresses are checked as the connection opens (CheckedBackend)
        except InvalidCommand as exc:
            return Attempt(None, exc.message[:MAX_ERROR], took())
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature(secrets, msg_id, at, body),
        }
        try:
            # The total timeout covers the whole exchange (httpx's own applies per read).
            async with asyncio.timeout(self.total_timeout):
                response = await self.client.post(url, content=body.encode(), headers=headers)
        except TimeoutError:
            return Attempt(None, f"timed out after {self.total_timeout:g} s", took())
        except httpx.TimeoutException as exc:
            return Attempt(None, f"timed out ({type(exc).__name__})", took())
        except Exception as exc:  # noqa: BLE001 - httpx's errors, OSError, and faults of the stack under it alike
            # (httpcore/anyio raised AttributeError on a connection the receiver dropped while it opened): each is
            # an attempt without an answer, retried on the schedule, never an exception that stalls the lane.
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR], took())
        return Attempt(response.status_code, None, took())
