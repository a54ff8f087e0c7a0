"""Asking the process a live call was taken from to let it go (channels/takeover.py's ``release_elsewhere``).

``request_release`` has the signature of the forwarding helper's (``gateway/forwarding.py``), which replaces it
when both are merged; ``releaser`` binds it to this process for :class:`channels.live_calls.LiveCalls`.
"""

from __future__ import annotations

import logging

import httpx

from channels.takeover import ReleaseElsewhere
from sessions.errors import StoreUnavailable
from sessions.service import Sessions

from .internal_auth import HOP_HEADER, sign

log = logging.getLogger("gateway.call_release")

#: Seconds the old home has to answer: a live process answers at once; past this it is taken for dead.
RELEASE_TIMEOUT = 1.0


async def request_release(client: httpx.AsyncClient, url: str, ix_id: str, secret: str, node: str) -> bool:
    """POST ``/internal/calls/{ix_id}/release`` to the process at ``url``, signed as ``node``: True when it answered
    (204: it handed the call off; 404: it held no such call), False when it could not be reached in time."""
    path = f"/internal/calls/{ix_id}/release"
    headers = {HOP_HEADER: sign(secret, "POST", path, b"", node)}
    try:
        r = await client.post(f"{url}{path}", headers=headers, timeout=RELEASE_TIMEOUT)
    except httpx.HTTPError as exc:
        log.info("%s did not answer the release of %s: %s", url, ix_id, exc)
        return False
    return r.status_code in (204, 404)


def releaser(sessions: Sessions, client: httpx.AsyncClient, secret: str | None, node: str) -> ReleaseElsewhere:
    """``release_elsewhere`` of this process: the old home's internal URL from the registry, then the request.

    A process no longer registered (its entry expired, or it stopped cleanly) cannot answer: False, its part is
    rescued.  Without an internal secret a registered process cannot be asked; it is taken to be alive (True), so
    a part it may still be writing is left to it (it hands the call off itself when its stream drops).
    """

    async def release(old: str, ix_id: str) -> bool:
        try:
            url = await sessions.node_url(old)
        except StoreUnavailable:
            return False
        if url is None:
            return False
        if secret is None:
            return True
        return await request_release(client, url, ix_id, secret, node)

    return release
