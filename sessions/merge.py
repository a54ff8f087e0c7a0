"""Merging two interactions of one customer: one conversation, told once.

A customer who writes in by chat and then calls, or texts twice into two threads, ends up with two
active interactions.  Merging keeps one (the *survivor*) and completes the other with a link to it
(``merged_into``): the survivor takes the other's messages, notes, recordings, transcripts and feed,
each list combined in time order; the other keeps everything it had, so its own history still reads
as it happened.  Both feeds record the merge and both changes are events, committed together
(``Store.update_pair``): no crash leaves one half merged.

Refused (nothing changes):

* merging an interaction into itself, or across different customers (422 ``invalid``);
* when either is completed, or either is in a warm-transfer consult (409 ``illegal_transition``);
* when the other is a call still on the line (waiting, ringing or claimed; only a wrapped-up call
  may go): completing it would leave the caller connected to nobody, so end the call first or merge
  the other way (409);
* when the other is a claimed chat whose customer is still in the widget (no chat disconnect
  recorded): completing it would tell them "Chat ended" mid-conversation and refuse their next line;
  once they left (or it is wrapped up) it may go (409);
* by anyone who may not handle both: the survivor's handler (its agent, or a supervisor of its
  queue); the other's too if someone holds it, or, while it waits unassigned, anyone who may see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from .errors import IllegalTransition, InvalidCommand
from .events import Change, EventType
from .model import ActivityEntry, CommType, Interaction, State, Status, Subtype, User
from .transcripts import ordered
from .transitions import require_access, require_handler

T = TypeVar("T")


def _combined(first: Iterable[T], second: Iterable[T], key: Callable[[T], Any]) -> list[T]:
    """Both lists in time order; an item both hold (same key) once.  ``sorted`` is stable: ties keep survivor first."""
    seen: set[Any] = set()
    out: list[T] = []
    for item in [*first, *second]:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return sorted(out, key=lambda item: item.at)  # type: ignore[attr-defined]


def check(survivor: Interaction, other: Interaction, actor: User | None) -> None:
    """Every refusal of :func:`merge`, access first (403 before any state is told)."""
    require_access(survivor, actor)
    require_access(other, actor)
    if survivor.id == other.id:
        raise InvalidCommand(
            f"Cannot merge interaction {survivor.id} into itself: name another interaction of the customer."
        )
    for ix in (survivor, other):
        if ix.state is not State.ACTIVE:
            raise IllegalTransition(
                f"Cannot merge interaction {ix.id}: "
                f"it is completed{' (merged into ' + ix.merged_into + ')' if ix.merged_into else ''}."
            )
        if ix.consult is not None:
            raise IllegalTransition(
                f"Cannot merge interaction {ix.id} during a consult: complete or cancel the consult first."
            )
    if survivor.customer.id is None or survivor.customer.id != other.customer.id:
        raise InvalidCommand(
            f"Interactions {survivor.id} and {other.id} belong to different customers "
            f"({survivor.customer.id or 'none'} and {other.customer.id or 'none'}); "
            "only one customer's interactions merge."
        )
    if other.type is CommType.CALL and other.status is not Status.WRAP_UP:
        raise IllegalTransition(
            f"Cannot merge call {other.id} away while the caller is on the line ({other.status.value}): "
            "end the call first, or merge into it instead."
        )
    if (
        other.subtype is Subtype.CHAT
        and other.status is Status.CLAIMED
        and not (other.disconnect and other.disconnect.channel is Subtype.CHAT)
    ):
        raise IllegalTransition(
            f"Cannot merge chat {other.id} away while the customer is still in the chat: end the chat first, "
            "or merge into it instead."
        )
    require_handler(survivor, actor, "merge into")
    if other.assigned_to is not None:
        require_handler(other, actor, "merge")


def merge(survivor: Interaction, other: Interaction, *, actor: User | None, now: datetime) -> tuple[Change, Change]:
    """The survivor with both conversations combined, and the other completed with a link to it."""
    check(survivor, other, actor)
    by = actor.id if actor else "system"
    who = actor.name if actor else "the system"
    kept = survivor.model_copy(deep=True)
    kept.version = survivor.version + 1
    kept.messages = _combined(survivor.messages, other.messages, lambda m: m.id)
    kept.notes = _combined(survivor.notes, other.notes, lambda n: n.id)
    kept.recordings = _combined(survivor.recordings, other.recordings, lambda r: r.id)
    kept.transcripts = _combined(survivor.transcripts, other.transcripts, lambda t: t.id)
    kept.live_transcript = ordered({s.id: s for s in [*survivor.live_transcript, *other.live_transcript]}.values())
    kept.channel_history = sorted([*survivor.channel_history, *other.channel_history], key=lambda c: c.at)
    kept.tags = list(dict.fromkeys([*survivor.tags, *other.tags]))
    # The other's feed joins in time order, each entry saying where it came from.
    moved = [
        e.model_copy(
            update={
                "detail": f"{e.detail} (in merged interaction {other.id})",
                "data": {**e.data, "from_interaction": other.id},
            }
        )
        for e in other.activity
    ]
    kept.activity = sorted([*survivor.activity, *moved], key=lambda e: e.at)
    data = {"survivor": survivor.id, "from": other.id, "by": by}
    kept.activity.append(
        ActivityEntry(
            at=now, kind="merged", by=by, detail=f"Interaction {other.id} merged into this one by {who}", data=data
        )
    )

    gone = other.model_copy(deep=True)
    gone.version = other.version + 1
    gone.state = State.COMPLETED
    gone.status = Status.COMPLETED
    gone.completed_at = now
    gone.completed_by = by
    gone.merged_into = survivor.id
    gone.offered_to = None
    gone.offer_expires_at = None
    gone.activity.append(
        ActivityEntry(
            at=now, kind="merged", by=by, detail=f"Merged into interaction {survivor.id} by {who}; completed", data=data
        )
    )
    return Change(kept, EventType.MERGED, data), Change(
        gone, EventType.COMPLETED, {"auto": False, "merged_into": survivor.id}
    )
