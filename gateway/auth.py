"""Passwords, bearer tokens and the bootstrap admin.

Passwords are hashed with scrypt (standard library, memory-hard); tokens are
random and only their SHA-256 digest is stored, so a leaked store does not
leak usable tokens.

Auth keeps a narrow port of its own on the store, :class:`Credentials`: password hashes, token digests and
socket tickets are its records alone, no core rule reads them.  Users are read through :class:`Sessions`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Protocol

from sessions import Sessions, access
from sessions.events import Event
from sessions.model import Role, User
from sessions.tokens import token_digest

from . import credentials
from .login_throttle import LoginThrottle

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
BOOTSTRAP_ADMIN = User(id="admin", username="admin", name="Admin", role=Role.ADMIN)


class Credentials(Protocol):
    """What Auth keeps in the store.  ``put_user`` is for the bootstrap admin only (no admin exists yet to call
    ``Sessions.save_user``); ``publish`` appends a revocation to the log, so every process closes its sockets."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...
    async def get_password_hash(self, user_id: str) -> str | None: ...
    async def put_token(self, digest: str, user_id: str) -> None: ...
    async def token_user(self, digest: str) -> str | None: ...
    async def revoke_token(self, digest: str) -> str | None: ...
    async def revoke_user_tokens(self, user_id: str, keep: str | None = None) -> list[str]: ...
    async def remember(self, key: str, value: str, ttl: float) -> bool: ...
    async def take(self, key: str) -> str | None: ...
    async def put_user(self, user: User) -> None: ...
    async def publish(self, event: Event) -> Event: ...


class Unauthorized(Exception):
    """No credentials, or credentials that do not identify a user."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))


#: Seconds a socket ticket stays valid: long enough to open the socket, too short to be worth stealing from a log.
TICKET_SECONDS = 30


class Auth:
    """Who a token or ticket belongs to, and every way a token stops being valid.

    Each revocation is also appended to the event log (sessions.access), so open sockets
    of that token close in every process.
    """

    def __init__(self, sessions: Sessions, store: Credentials, throttle: LoginThrottle) -> None:
        self.sessions = sessions
        self.store = store
        self.throttle = throttle

    async def set_password(self, user_id: str, password: str) -> None:
        # scrypt is deliberately slow: keep it off the event loop.
        await self.store.set_password_hash(user_id, await asyncio.to_thread(hash_password, password))

    async def login(self, username: str, password: str, address: str | None = None) -> tuple[str, User]:
        await self.throttle.attempt(username, address)
        user = await self.sessions.find_user(username)
        stored = await self.store.get_password_hash(user.id) if user else None
        # Verify even for unknown users so timing does not reveal which usernames exist.
        ok = await asyncio.to_thread(verify_password, password, stored or DUMMY_HASH)
        if user is None or stored is None or not ok or user.disabled:
            raise Unauthorized("Wrong username or password.")
        await self.throttle.clear(username)
        return await self.issue_token(user), user

    async def issue_token(self, user: User, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(32)
        await self.store.put_token(token_digest(token), user.id)
        return token

    async def authenticate(self, token: str | None) -> User:
        return (await self.identify(token))[0]

    async def identify(self, token: str | None) -> tuple[User, str]:
        """The user a token belongs to, and the token's digest (what revocation names)."""
        if not token:
            raise Unauthorized("Send a bearer token: Authorization: Bearer <token>.")
        digest = token_digest(token)
        return await self.holder(digest), digest

    async def holder(self, digest: str, unknown: str = "The token is unknown or revoked; log in again.") -> User:
        """The enabled user a token digest belongs to (Unauthorized if none)."""
        user_id = await self.store.token_user(digest)
        if user_id is None:
            raise Unauthorized(unknown)
        user = await self.sessions.user(user_id)
        if user.disabled:
            raise Unauthorized("This account is disabled.")
        return user

    async def issue_ticket(self, token: str) -> str:
        """A single-use ticket, valid for TICKET_SECONDS, that opens a socket as this token's user.

        Sockets cannot send an Authorization header from a browser, and a token in the URL ends up
        in logs; a ticket in the URL is worthless once used or expired.
        """
        _, digest = await self.identify(token)
        ticket = secrets.token_urlsafe(24)
        await self.store.remember(f"ws-ticket:{token_digest(ticket)}", digest, TICKET_SECONDS)
        return ticket

    async def redeem_ticket(self, ticket: str | None) -> tuple[User, str]:
        """The user and token digest a ticket was issued for; the ticket is spent."""
        digest = await self.store.take(f"ws-ticket:{token_digest(ticket)}") if ticket else None
        if digest is None:
            raise Unauthorized("The ticket is unknown, used or expired; ask for a new one.")
        return await self.holder(digest, "The token behind this ticket was revoked; log in again."), digest

    async def revoke(self, token: str) -> None:
        """Logs one token out."""
        digest = token_digest(token)
        user_id = await self.store.revoke_token(digest)
        if user_id is not None:
            await self.store.publish(access.tokens_revoked(user_id, [digest], self.sessions.clock.now()))

    async def revoke_all(self, user_id: str, keep: str | None = None) -> int:
        """Logs a user out everywhere, except the token ``keep`` (the one asking, on a password change)."""
        gone = await self.store.revoke_user_tokens(user_id, keep=token_digest(keep) if keep else None)
        if gone:
            await self.store.publish(access.tokens_revoked(user_id, gone, self.sessions.clock.now()))
        return len(gone)

    async def bootstrap(self, admin_token: str | None, data_dir: Path) -> tuple[str, Path | None]:
        """Ensures the bootstrap admin exists and has a token.

        Returns the token and, when a secret was generated (a first password, a token), the
        owner-only file it was written to (gateway.credentials); nothing secret is returned for printing.
        """
        password = None
        admin = await self.sessions.find_user(BOOTSTRAP_ADMIN.username)
        if admin is None:
            admin = BOOTSTRAP_ADMIN
            await self.store.put_user(admin)
            password = secrets.token_urlsafe(12)
            await self.set_password(admin.id, password)
        new_token = None  # a token the operator does not know yet: the one chosen is known, the one on file too
        if admin_token:
            token = await self.issue_token(admin, admin_token)
        else:
            token = credentials.read_token(data_dir) or ""
            if await self.store.token_user(token_digest(token)) != admin.id:
                token = new_token = await self.issue_token(admin)
        return token, credentials.write(data_dir, new_token, password) if new_token or password else None


DUMMY_HASH = hash_password(secrets.token_urlsafe(8))
