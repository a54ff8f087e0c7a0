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
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

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
            headers={"user-agent": "switchboard-webhooks/1"},
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def check_destination(self, url: str, *, must_resolve: bool = False) -> None:
        """Raises UnsafeAddress (422) for a URL webhooks may not call.  A host that does not resolve passes unless
        ``must_resolve`` (at creation it may simply not be published yet; at send time it is a connection error)."""
        check_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.allow_private:
            return
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
                )
            except (OSError, ValueError) as exc:  # UnicodeError: not a valid IDNA name
                if must_resolve:
                    raise UnsafeAddress(f"url: {host} does not resolve ({exc})") from None
                return
            addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        bad = [str(a) for a in addresses if _forbidden(a)]
        if bad:
            raise UnsafeAddress(
                f"url: {host} is a loopback, link-local, private or reserved address ({bad[0]}); "
                "webhooks only call public addresses (GATEWAY_WEBHOOKS_ALLOW_PRIVATE=1 lifts this, for tests)"
            )

    async def send(self, url: str, msg_id: str, body: str, secrets: list[str]) -> Attempt:
        """One signed POST; never raises for the network or the receiver: the outcome is in the Attempt."""
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            await self.check_destination(url, must_resolve=True)
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
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR], took())
        return Attempt(response.status_code, None, took())
