"""Events: the one record of every state change, and their cursors.

A cursor is the id of the event's row in the store's log (an integer, sent as
a decimal string so clients hold one opaque kind of value); ordering is
defined once, here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import InvalidCursor
from .model import Interaction

Cursor = str

#: A cursor is the event's row id in the log: a positive integer in decimal, within a signed 64-bit column.
_CURSOR = re.compile(r"0|[1-9][0-9]{0,18}")
_I64 = 2**63


def cursor_key(cursor: Cursor) -> int:
    """Sort key of a cursor; raises InvalidCursor for anything but a decimal event id.

    Strict on purpose: ASCII digits only (``str.isdigit`` also accepts superscripts and other
    scripts' digits, which ``int`` may parse but no database understands), no leading zeros or signs,
    and within 64 bits, so a cursor that passes here is one every store can use.
    """
    if _CURSOR.fullmatch(cursor) is None or int(cursor) >= _I64:
        raise InvalidCursor(f"{cursor[:42]!r} is not an event cursor (expected the decimal id of an event, e.g. '1042')")
    return int(cursor)


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
