"""Typed domain errors.

Each carries a stable machine ``code`` (what clients branch on) and a message
written for a person.  Adapters map the class to their protocol's status
(HTTP 404/403/409/422, a websocket error frame, TwiML); the core never knows
which.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"


class Unrouted(NotFound):
    """No queue takes a new contact (no rule, number or default queue matches): a configuration gap.

    ``message`` is what the customer may read (polite, generic); ``reason`` is for operators' logs and admins.
    """

    code = "unavailable"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PermissionDenied(DomainError):
    code = "forbidden"


class IllegalTransition(DomainError):
    """The command makes no sense in the interaction's current state."""

    code = "illegal_transition"


class InvalidCommand(DomainError):
    """The command is malformed whatever the state (bad field, bad target)."""

    code = "invalid"


class FieldNotEditable(DomainError):
    code = "field_not_editable"


class AlreadyExists(DomainError):
    code = "already_exists"


class CursorExpired(DomainError):
    """The event log no longer holds what follows this cursor: the client must resync."""

    code = "cursor_expired"


class InvalidCursor(DomainError):
    code = "invalid_cursor"


class ConcurrentUpdate(DomainError):
    """Optimistic retries ran out; extremely unlikely, reported rather than looping forever."""

    code = "conflict"


class StoreUnavailable(Exception):
    """The store of record cannot be reached or written right now; nothing was changed (503, retry)."""
