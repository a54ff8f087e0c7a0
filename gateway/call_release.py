"""Asking the process a live call was taken from to let it go (channels/takeover.py's ``release_elsewhere``).

``releaser`` binds ``gateway/forwarding.request_release`` (the signed internal request) to this process for
:class:`channels.live_calls.LiveCalls`.
"""

from __future__ import annotations

import httpx

from channels.takeover import ReleaseElsewhere
from sessions.errors import StoreUnavailable
from sessions.service import Sessions

from .forwarding import request_release


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
