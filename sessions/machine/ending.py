"""Ending and editing: end, wrap-up and completion (by hand or by the clock), abandon, and edits after completion."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from .. import disconnect
from ..errors import FieldNotEditable, IllegalTransition, InvalidCommand
from ..events import Change, EventType
from ..merge_patch import merge_patch
from ..model import (
    EDITABLE_AFTER_COMPLETION,
    FROZEN_AFTER_COMPLETION,
    DisconnectBy,
    DisconnectReason,
    Interaction,
    Outcome,
    Status,
    User,
)
from ..queues import Queue
from ..transitions import Command, check
from .steps import CUSTOMER, SYSTEM, completed, log, next_version, to_queue


def end(ix: Interaction, *, actor: User, outcome: Outcome, now: datetime) -> Change:
    """Resolved goes to wrap-up; unresolved goes back to the queue for someone else."""
    check(Command.END, ix, actor)
    nxt = next_version(ix)
    nxt.outcome = outcome
    if outcome is Outcome.RESOLVED:
        nxt.status = Status.WRAP_UP
        nxt.wrap_up_at = now
        ended = disconnect.as_data(disconnect.ended_by_agent(ix, nxt, DisconnectReason.HANG_UP, now))
        log(
            nxt,
            now,
            "ended",
            actor.id,
            f"Ended as resolved by {actor.name}; wrap-up started",
            outcome=outcome.value,
            **ended,
        )
    else:
        ended = disconnect.as_data(None)  # the customer holds (or waits) for the next agent
        to_queue(nxt)
        log(
            nxt,
            now,
            "ended",
            actor.id,
            f"Ended as unresolved by {actor.name}; back in queue {ix.queue_id}",
            outcome=outcome.value,
        )
    return Change(nxt, EventType.ENDED, {"outcome": outcome.value, **ended})


def complete(ix: Interaction, *, actor: User, now: datetime) -> Change:
    check(Command.COMPLETE, ix, actor)
    nxt = completed(ix, actor.id, now)
    log(nxt, now, "completed", actor.id, f"Completed by {actor.name}")
    return Change(nxt, EventType.COMPLETED, {"auto": False, **disconnect.as_data(ix.disconnect)})


def wrap_up_deadline(ix: Interaction, queue: Queue) -> datetime | None:
    """When the queue completes this interaction by itself, if it does."""
    if ix.status is not Status.WRAP_UP or not queue.settings.auto_complete or ix.wrap_up_at is None:
        return None
    return ix.wrap_up_at + timedelta(seconds=queue.settings.wrap_up_limit)


def auto_complete(ix: Interaction, *, queue: Queue, now: datetime) -> Change:
    """Completes a wrap-up whose limit passed; completed_by stays the agent who wrapped it up."""
    check(Command.AUTO_COMPLETE, ix, None)
    deadline = wrap_up_deadline(ix, queue)
    if deadline is None or now < deadline:
        raise IllegalTransition(f"Interaction {ix.id} is still within its wrap-up time.")
    nxt = completed(ix, ix.assigned_to or SYSTEM, now)
    nxt.auto_completed = True
    log(
        nxt,
        now,
        "completed",
        SYSTEM,
        f"Completed automatically after the {queue.settings.wrap_up_limit}s wrap-up limit",
    )
    return Change(nxt, EventType.COMPLETED, {"auto": True, **disconnect.as_data(ix.disconnect)})


def abandon(ix: Interaction, *, now: datetime) -> Change:
    """The customer gave up while waiting (hung up, left the chat): it completes unanswered."""
    check(Command.ABANDON, ix, None)
    nxt = completed(ix, CUSTOMER, now)
    nxt.offered_to = None
    nxt.offer_expires_at = None
    nxt.abandoned_at = now
    nxt.disconnect = disconnect.record(ix, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP, now)
    waited = (now - ix.created_at).total_seconds()
    log(nxt, now, "abandoned", CUSTOMER, f"The customer left after waiting {waited:.0f}s", waited_seconds=waited)
    return Change(nxt, EventType.ABANDONED, {"waited_seconds": waited, **disconnect.as_data(nxt.disconnect)})


def customer_left(
    ix: Interaction,
    *,
    queue: Queue,
    by: DisconnectBy,
    reason: DisconnectReason,
    now: datetime,
    leg: disconnect.Leg | None = None,
) -> Change:
    """The other end of the contact went away (customer hang-up, left the chat; provider busy, no answer, failed).

    Waiting: abandoned.  Claimed: wrap-up at once, unless the queue's ``wrap_up_on_disconnect`` is off, in which case
    it stays claimed with the agent (who is told) and only the disconnect is recorded.  Anything else: nothing to
    change (IllegalTransition).  ``leg``: where the customer left from; a contact that went on elsewhere (a call
    continued by text, a chat continued by phone) is left be.
    """
    if queue.id != ix.queue_id:
        raise IllegalTransition(f"Interaction {ix.id} is in queue {ix.queue_id}, not {queue.id}.")
    if leg is not None and ix.subtype not in disconnect.ON[leg]:
        raise IllegalTransition(
            f"Interaction {ix.id} went on as {ix.type.value}/{ix.subtype.value}: "
            f"the customer leaving the {leg} leaves it be."
        )
    check(Command.CUSTOMER_LEFT, ix, None)
    d = disconnect.record(ix, by, reason, now)
    if ix.status in (Status.OPEN, Status.PENDING):
        change = abandon(ix, now=now)
        change.interaction.disconnect = d
        change.interaction.activity[-1].data.update(disconnect.as_data(d))
        return Change(change.interaction, change.type, {**change.data, **disconnect.as_data(d)})
    nxt = next_version(ix)
    nxt.disconnect = d
    who = CUSTOMER if by is DisconnectBy.CUSTOMER else by.value
    if queue.settings.wrap_up_on_disconnect:
        nxt.status = Status.WRAP_UP
        nxt.wrap_up_at = now
        nxt.consult = None
        log(nxt, now, "ended", who, f"{disconnect.describe(d)}; wrap-up started", **disconnect.as_data(d))
        return Change(nxt, EventType.ENDED, {"outcome": None, **disconnect.as_data(d)})
    log(
        nxt,
        now,
        "disconnected",
        who,
        f"{disconnect.describe(d)}; still claimed by {ix.assigned_to}",
        **disconnect.as_data(d),
    )
    return Change(nxt, EventType.DISCONNECTED, disconnect.as_data(d))


def edit(ix: Interaction, *, actor: User, changes: dict[str, Any], now: datetime) -> Change:
    """Applies a JSON Merge Patch (RFC 7396) to the editable fields, with an audit entry.

    The editable fields are customer, tags, subject and disposition.

    Who completed it, when, and the activity feed are the record of what
    happened; they are refused by name so the person learns why.
    """
    check(Command.EDIT, ix, actor)
    if not changes:
        raise InvalidCommand(
            "Nothing to edit: name at least one of " + ", ".join(sorted(EDITABLE_AFTER_COMPLETION)) + "."
        )
    frozen = sorted(FROZEN_AFTER_COMPLETION.intersection(changes))
    if frozen:
        raise FieldNotEditable(
            f"{', '.join(frozen)} cannot be edited: "
            "who completed an interaction, when, and its activity feed are permanent."
        )
    unknown = sorted(set(changes) - EDITABLE_AFTER_COMPLETION)
    if unknown:
        raise FieldNotEditable(
            f"{', '.join(unknown)} cannot be edited; "
            f"editable fields are {', '.join(sorted(EDITABLE_AFTER_COMPLETION))}."
        )
    try:
        candidate = Interaction.model_validate(merge_patch(ix.model_dump(mode="json"), changes))
    except ValidationError as exc:
        raise InvalidCommand(f"Invalid value: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    nxt = next_version(ix)
    changed: dict[str, Any] = {}
    for name in changes:
        value = getattr(candidate, name)
        if name == "tags":
            value = list(dict.fromkeys(value))
        if getattr(ix, name) != value:
            setattr(nxt, name, value)
            changed[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    if not changed:
        raise InvalidCommand("The edit changes nothing.")
    log(nxt, now, "edited", actor.id, f"Edited by {actor.name}: {', '.join(sorted(changed))}", changes=changed)
    return Change(nxt, EventType.EDITED, {"fields": sorted(changed)})
