"""Events: the one record of every state change, and their cursors.

Cursors use the Redis Streams id shape ``<milliseconds>-<sequence>`` on every
store, so clients hold one kind of opaque string whichever store the gateway
runs on, and ordering is defined once, here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import InvalidCursor
from .model import Interaction

Cursor = str


#: Each part of a cursor is an unsigned 64-bit number, as in Redis Stream ids.
_CURSOR = re.compile(r"(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})")
_U64 = 2**64


def cursor_key(cursor: Cursor) -> tuple[int, int]:
    """Sort key of a cursor; raises InvalidCursor for anything not ``ms-seq``.

    Strict on purpose: ASCII digits only (``str.isdigit`` also accepts superscripts and other
    scripts' digits, which ``int`` may parse but no store understands), no leading zeros or signs,
    and each part within 64 bits, so a cursor that passes here is one every store can use.
    """
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match[1]) >= _U64 or int(match[2]) >= _U64:
        raise InvalidCursor(f"{cursor[:42]!r} is not an event cursor (expected two numbers joined by '-', e.g. '1700000000000-0')")
    return int(match[1]), int(match[2])


def next_cursor(last: Cursor | None, now_ms: int) -> Cursor:
    """The cursor after ``last``: the clock's millisecond, never going backwards."""
    if last is None:
        return f"{max(now_ms, 1)}-0"
    last_ms, last_seq = cursor_key(last)
    if now_ms > last_ms:
        return f"{now_ms}-0"
    return f"{last_ms}-{last_seq + 1}"


class Event(BaseModel):
    """``{"id", "type", "at", "interaction"}`` per the external contract.

    ``queues`` and ``users`` name the audience: every queue the change touched
    (old and new, for a transfer) and every user it concerns (assignee, the
    one offered it, the one it was taken from), so a subscriber filters
    without loading anything else.
    """

    model_config = ConfigDict(extra="forbid")

    id: Cursor = ""
    type: str
    at: datetime
    #: The interaction after the change; None for events about something else (queue.metrics, presence.changed).
    interaction: Interaction | None = None
    queues: list[str] = []
    users: list[str] = []
    #: When set, only subscribers with one of these roles (or named in ``users``) see the event.
    roles: list[str] | None = None
    data: dict[str, Any] = {}

    def concerns(self, queues: set[str] | None, users: set[str] | None, role: str | None = None) -> bool:
        """Whether a subscriber of these queues and users (with this role) should see it.

        ``queues`` None means every queue; with ``users`` and ``role`` None too, the read is unfiltered.
        """
        if queues is None and users is None and role is None:
            return True
        if users and users.intersection(self.users):
            return True
        if self.roles is not None and role not in self.roles:
            return False
        return queues is None or bool(queues.intersection(self.queues))


class EventPage(BaseModel):
    """What a read of the log returns: the matching events and how far it read.

    ``last`` advances past events the filter dropped too, so a reader never
    rescans them.
    """

    events: list[Event]
    last: Cursor | None
    #: False when the read stopped at its limit and more of the log follows.
    complete: bool = True
