"""Bearer secrets are stored only as digests: an agent's API token, a socket ticket, a chat widget's session token.

A leaked store then holds nothing a client could present. The one digest every layer uses lives here, in the core,
because both the gateway (agent tokens) and the channels (chat session tokens) need it.
"""

from __future__ import annotations

import hashlib


def token_digest(token: str) -> str:
    """The stored form of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()
