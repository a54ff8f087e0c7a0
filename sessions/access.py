"""Access changes as events: how a sign-out or a membership change reaches every open socket.

A token revoked or a user re-scoped in one process must act on sockets held by every process,
at once and in log order.  So the change is appended to the same event log the sockets follow:
each process's reader meets it exactly where it happened, and a socket never receives an event
of a queue after the event that removed it from that queue.

These events are for the gateway, not for people or integrators: their audience is empty
(``users=[]``, ``roles=[]``), so no subscriber or replay ever receives one.  Tokens appear only
as the SHA-256 digests the store already keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .events import Event, EventType
from .model import Role, User

#: The events about accounts (docs/events.md): a user changed; tokens of one user stopped being valid.
TYPES = frozenset({EventType.USER_CHANGED, EventType.TOKENS_REVOKED})


def user_changed(user: User, at: datetime) -> Event:
    return Event(
        type=EventType.USER_CHANGED,
        at=at,
        users=[],
        roles=[],
        data={"user": user.id, "role": user.role.value, "queues": list(user.queues), "disabled": user.disabled},
    )


def tokens_revoked(user_id: str, digests: list[str], at: datetime) -> Event:
    return Event(type=EventType.TOKENS_REVOKED, at=at, users=[], roles=[], data={"user": user_id, "tokens": digests})


@dataclass(frozen=True)
class Scope:
    """What one socket of ``user`` sees: None queues means every queue (admins)."""

    user: str
    token: str
    role: str
    queues: frozenset[str] | None

    @classmethod
    def of(cls, user: User, token_digest: str) -> Scope:
        return cls(user.id, token_digest, user.role.value, None if user.role is Role.ADMIN else frozenset(user.queues))


def revokes(event: Event, scope: Scope) -> bool:
    """Whether an access event ends a socket with ``scope`` (its token revoked, or its user disabled)."""
    if event.data.get("user") != scope.user:
        return False
    if event.type == EventType.TOKENS_REVOKED:
        return scope.token in event.data.get("tokens", ())
    return event.type == EventType.USER_CHANGED and bool(event.data.get("disabled"))


def rescoped(event: Event, scope: Scope) -> Scope | None:
    """The scope a socket with ``scope`` has after a user.changed event about its user, else None."""
    if event.type != EventType.USER_CHANGED or event.data.get("user") != scope.user:
        return None
    role = str(event.data.get("role", scope.role))
    queues = None if role == Role.ADMIN.value else frozenset(event.data.get("queues", ()))
    return Scope(scope.user, scope.token, role, queues)
