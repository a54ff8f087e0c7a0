"""Requests between the gateway's own processes: signed with the shared internal secret, so only a sibling
process can send them.

A leg of a live call that lands on a process other than the call's home is forwarded there (``forwarding.py``);
the home must know the request came from a sibling (it then never forwards again, and it may act on internal
paths such as ``/internal/calls/{id}/release``).  The header binds the method, the path with its query, a hash of
the body, the sending node and the time; it is refused 30 s either side of now, which bounds a replay to a
window where the same request would have done the same thing anyway.  The user's own credentials travel with a
forwarded request unchanged and are checked again by the home: the signature proves the hop, not the user.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

HOP_HEADER = "x-switchboard-hop"
#: Seconds a signature stays acceptable either side of the receiver's clock.
SKEW_SECONDS = 30.0


def _mac(secret: str, method: str, path_qs: str, body: bytes, node: str, at: int) -> str:
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((method.upper(), path_qs, digest, node, str(at))).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path_qs: str, body: bytes, node: str, now: float | None = None) -> str:
    """The header value for a request from ``node``: ``t=<unix time>,n=<node>,s=<hex>``."""
    at = int(time.time() if now is None else now)
    return f"t={at},n={node},s={_mac(secret, method, path_qs, body, node, at)}"


def verify(secret: str, header: str, method: str, path_qs: str, body: bytes, now: float | None = None) -> str | None:
    """The sending node when ``header`` signs this request within the allowed skew; None otherwise."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        at = int(fields["t"])
        node, given = fields["n"], fields["s"]
    except (KeyError, ValueError):
        return None
    if abs((time.time() if now is None else now) - at) > SKEW_SECONDS:
        return None
    expected = _mac(secret, method, path_qs, body, node, at)
    return node if hmac.compare_digest(expected, given) else None


def hop_sender(secret: str | None, headers: Mapping[str, str], method: str, path_qs: str, body: bytes) -> str | None:
    """The sibling that sent this request, when it carries a hop header that verifies; None when there is no secret
    (processes cannot talk), no header, or one that does not sign this request (the one check every receiver makes:
    a forwarded leg, ``/internal/`` paths, a relayed media socket)."""
    header = headers.get(HOP_HEADER)
    if not secret or header is None:
        return None
    return verify(secret, header, method, path_qs, body)
