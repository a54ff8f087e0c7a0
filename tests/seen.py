"""What a user's console would be sent: the log read with the scope a socket of theirs gets (``Scope.of``)."""

from __future__ import annotations

from sessions import Sessions
from sessions.access import Scope
from sessions.events import Cursor, EventPage
from sessions.model import User


async def events_seen_by(sessions: Sessions, user: User, cursor: Cursor | None, limit: int = 500) -> EventPage:
    """The events after ``cursor`` that a socket of ``user`` replays: their queues' (every queue for admins), their
    own interactions', and those for their role; the same read ``/ws/agent`` makes with its token's scope."""
    scope = Scope.of(user, token_digest="")
    queues = None if scope.queues is None else set(scope.queues)
    return await sessions.events_since(cursor, queues=queues, users={scope.user}, role=scope.role, limit=limit)
