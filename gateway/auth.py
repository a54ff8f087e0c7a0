"""Passwords, bearer tokens and the bootstrap admin.

Passwords are hashed with scrypt (standard library, memory-hard); tokens are
random and only their SHA-256 digest is stored, so a leaked store does not
leak usable tokens.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

from sessions.model import Role, User
from sessions.stores import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
BOOTSTRAP_ADMIN = User(id="admin", username="admin", name="Admin", role=Role.ADMIN)


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


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def set_password(self, user_id: str, password: str) -> None:
        # scrypt is deliberately slow: keep it off the event loop.
        await self.store.set_password_hash(user_id, await asyncio.to_thread(hash_password, password))

    async def login(self, username: str, password: str) -> tuple[str, User]:
        user = await self.store.find_user(username)
        stored = await self.store.get_password_hash(user.id) if user else None
        # Verify even for unknown users so timing does not reveal which usernames exist.
        ok = await asyncio.to_thread(verify_password, password, stored or DUMMY_HASH)
        if user is None or stored is None or not ok:
            raise Unauthorized("Wrong username or password.")
        return await self.issue_token(user), user

    async def issue_token(self, user: User, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(32)
        await self.store.put_token(token_digest(token), user.id)
        return token

    async def authenticate(self, token: str | None) -> User:
        if not token:
            raise Unauthorized("Send a bearer token: Authorization: Bearer <token>.")
        user_id = await self.store.token_user(token_digest(token))
        if user_id is None:
            raise Unauthorized("The token is unknown or revoked; log in again.")
        return await self.store.get_user(user_id)

    async def revoke(self, token: str) -> None:
        await self.store.revoke_token(token_digest(token))

    async def bootstrap(self, admin_token: str | None) -> tuple[str, str | None]:
        """Ensures the bootstrap admin exists; returns its token and, if just created, its password."""
        password = None
        admin = await self.store.find_user(BOOTSTRAP_ADMIN.username)
        if admin is None:
            admin = BOOTSTRAP_ADMIN
            await self.store.put_user(admin)
            password = secrets.token_urlsafe(12)
            await self.set_password(admin.id, password)
        return await self.issue_token(admin, admin_token), password


DUMMY_HASH = hash_password(secrets.token_urlsafe(8))
