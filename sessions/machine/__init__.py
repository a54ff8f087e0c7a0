"""The interaction state machine, as pure functions.

Each command takes the current interaction (never mutated), who asks, the
facts it needs (queue settings, the target) and ``now``, checks that the
command is legal, and returns a :class:`Change`: the next version of the
interaction plus the event type that records it.  No clock, no ids, no store:
the caller supplies those, so the same function runs under SQLite,
PostgreSQL, a replay and a property test alike.

Who may do what:

* anyone who can see the queue (a member, or an admin) claims an open
  interaction, or one offered to them;
* the *handler* (the assignee, or a supervisor/admin of the queue) transfers,
  switches channel, ends and completes;
* ``actor=None`` is the system or the customer (provider callbacks, timers).

Access before state: every command first passes :func:`sessions.transitions.check`,
whose one table says which statuses each command fits and who may give it.  Someone
outside its queue is refused (403) whatever the status, so a refusal never tells them
what state an interaction they may not see is in (a 409 would).  Whether a *member*
may act (are they the handler?) is checked after the state, so members still learn
why a command does not fit.

The commands live in submodules by job; this package exports them all, so callers
write ``machine.claim(...)``.
"""

from __future__ import annotations

from ..transitions import require_access, require_handler
from .conversation import (
    ProviderReport,
    add_message,
    add_note,
    attach_recording,
    attach_transcript,
    divert_to_voicemail,
    mark_read,
    provider_status,
    recording_stored,
    switch_channel,
    update_message_status,
)
from .ending import abandon, auto_complete, complete, customer_left, edit, end, wrap_up_deadline
from .routing import claim, clone, create, decline, expire_offer, offer
from .steps import CUSTOMER, SYSTEM
from .transfers import cancel_consult, complete_consult, join_consult, requeue, transfer

__all__ = [
    "CUSTOMER",
    "SYSTEM",
    "ProviderReport",
    "abandon",
    "add_message",
    "add_note",
    "attach_recording",
    "attach_transcript",
    "auto_complete",
    "cancel_consult",
    "claim",
    "clone",
    "complete",
    "complete_consult",
    "create",
    "customer_left",
    "decline",
    "divert_to_voicemail",
    "edit",
    "end",
    "expire_offer",
    "join_consult",
    "mark_read",
    "offer",
    "provider_status",
    "recording_stored",
    "requeue",
    "require_access",
    "require_handler",
    "switch_channel",
    "transfer",
    "update_message_status",
    "wrap_up_deadline",
]
