"""The conversation: channel switches, messages, notes, reads, recordings, transcripts and provider reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from .. import disconnect, reach
from ..errors import IllegalTransition, InvalidCommand
from ..events import Change, EventType, has_chat
from ..model import (
    SUBTYPES,
    SWITCHABLE_TYPES,
    ChannelChange,
    CommType,
    Direction,
    Interaction,
    Message,
    Note,
    Recording,
    Subtype,
    Transcript,
    User,
)
from ..queues import Queue
from ..transitions import Command, check
from .steps import CUSTOMER, SYSTEM, actor_id, actor_name, log, next_version, to_queue


def switch_channel(
    ix: Interaction, *, actor: User | None, type: CommType, subtype: Subtype, queue: Queue, now: datetime
) -> Change:
    """Continue on another channel (a call going on by SMS, and back): same id, history kept.

    An agent's switch must reach the customer (:mod:`reach`), or it is refused before anything
    is stored or said to them; the customer's own move (calling from the widget, calling the
    number of a text conversation: ``actor`` None) is on the channel they chose.  Texts and calls
    go from the number the customer contacted, else the queue's, which becomes the address.
    """
    check(Command.SWITCH_CHANNEL, ix, actor)
    if type not in SWITCHABLE_TYPES:
        raise InvalidCommand(f"An interaction can switch to call or messaging, not {type.value}.")
    if subtype not in SUBTYPES[type]:
        raise InvalidCommand(f"Subtype {subtype.value} does not belong to type {type.value}.")
    if (type, subtype) == (ix.type, ix.subtype):
        raise IllegalTransition(f"Interaction {ix.id} is already {type.value}/{subtype.value}.")
    contact = reach.contact_of(ix, queue, chat=has_chat(ix))
    if actor is not None:
        reach.require(contact, type, subtype, f"switch interaction {ix.id} to {reach.label((type, subtype))}")
    nxt = next_version(ix)
    by = actor_id(actor)
    nxt.channel_history.append(
        ChannelChange(at=now, by=by, from_type=ix.type, from_subtype=ix.subtype, to_type=type, to_subtype=subtype)
    )
    nxt.type, nxt.subtype = type, subtype
    if (type, subtype) in reach.BY_PHONE and contact.number:
        nxt.to_address = contact.number
    nxt.disconnect = None  # the conversation goes on: whatever ended before is behind it
    log(
        nxt,
        now,
        "channel_switched",
        by,
        f"Switched from {ix.type.value}/{ix.subtype.value} to {type.value}/{subtype.value} by {actor_name(actor)}",
    )
    return Change(
        nxt,
        EventType.CHANNEL_SWITCHED,
        {"from": f"{ix.type.value}/{ix.subtype.value}", "to": f"{type.value}/{subtype.value}"},
    )


def add_message(ix: Interaction, *, message: Message, actor: User | None, now: datetime) -> Change:
    """An inbound message comes from the customer (actor None); an outbound one from the handler.

    A customer's message is kept whatever it says (even empty: a picture-only text); a reply needs some text.
    """
    reply = message.direction is Direction.OUTBOUND and actor is not None
    check(Command.REPLY if reply else Command.ADD_MESSAGE, ix, actor)
    if reply:
        if not message.body.strip():
            raise InvalidCommand("A reply needs some text.")
        if ix.type is not CommType.MESSAGING:
            raise IllegalTransition(
                f"Interaction {ix.id} is a {ix.type.value}: switch it to text or chat to send messages."
            )
        disconnect.require_reachable(ix)
    if any(m.id == message.id for m in ix.messages):
        raise IllegalTransition(f"Message {message.id} is already part of interaction {ix.id}.")
    nxt = next_version(ix)
    nxt.messages.append(message)
    return Change(nxt, EventType.MESSAGE_ADDED, {"message_id": message.id})


def update_message_status(
    ix: Interaction,
    *,
    message_id: str,
    status: str,
    error_code: str | None,
    now: datetime,
    provider_id: str | None = None,
) -> Change:
    """A provider delivery receipt; these trail the conversation, so completed ones accept them too."""
    check(Command.UPDATE_MESSAGE_STATUS, ix, None)
    for i, m in enumerate(ix.messages):
        if m.id == message_id or m.provider_id == message_id:
            break
    else:
        raise IllegalTransition(f"Interaction {ix.id} has no message {message_id}.")
    nxt = next_version(ix)
    nxt.messages[i] = m.model_copy(
        update={"status": status, "error_code": error_code, "provider_id": provider_id or m.provider_id}
    )
    return Change(nxt, EventType.MESSAGE_STATUS, {"message_id": m.id, "status": status, "error_code": error_code})


def add_note(ix: Interaction, *, actor: User, note: Note, disposition: str | None = None, now: datetime) -> Change:
    check(Command.ADD_NOTE, ix, actor)
    if not note.body.strip() and disposition is None:
        raise InvalidCommand("A note needs a body or a disposition.")
    nxt = next_version(ix)
    if note.body.strip():
        nxt.notes.append(note)
    if disposition is not None:
        nxt.disposition = disposition
    log(
        nxt,
        now,
        "note_added",
        actor.id,
        f"Note by {actor.name}" + (f"; disposition {disposition}" if disposition else ""),
        note_id=note.id,
    )
    return Change(nxt, EventType.NOTE_ADDED, {"note_id": note.id, "disposition": disposition})


def mark_read(ix: Interaction, *, reader: User | None, now: datetime) -> Change:
    """Marks the other side's messages read.

    The customer's when an agent reads (``reader`` set), the agents' when the customer does.
    """
    unread_from = Direction.INBOUND if reader is not None else Direction.OUTBOUND
    check(Command.MARK_READ, ix, reader)
    ids = [m.id for m in ix.messages if m.direction is unread_from and m.status != "read"]
    if not ids:
        raise IllegalTransition(f"Interaction {ix.id} has no unread messages.")
    nxt = next_version(ix)
    nxt.messages = [m.model_copy(update={"status": "read"}) if m.id in ids else m for m in ix.messages]
    return Change(nxt, EventType.MESSAGES_READ, {"ids": ids, "by": reader.id if reader else CUSTOMER})


def attach_recording(ix: Interaction, *, recording: Recording, now: datetime) -> Change:
    """Recordings arrive after the call: completed interactions take them too."""
    check(Command.ATTACH_RECORDING, ix, None)
    if any(r.id == recording.id for r in ix.recordings):
        raise IllegalTransition(f"Recording {recording.id} is already attached to interaction {ix.id}.")
    nxt = next_version(ix)
    nxt.recordings.append(recording)
    log(nxt, now, "recording_attached", SYSTEM, "Recording attached", recording_id=recording.id)
    return Change(nxt, EventType.RECORDING_ATTACHED, {"recording_id": recording.id})


def recording_stored(ix: Interaction, *, recording_id: str, uri: str, now: datetime) -> Change:
    """A pending recording's audio is now kept by the gateway."""
    check(Command.RECORDING_STORED, ix, None)
    for i, rec in enumerate(ix.recordings):
        if rec.id == recording_id:
            break
    else:
        raise IllegalTransition(f"Interaction {ix.id} has no recording {recording_id}.")
    if rec.status == "stored":
        raise IllegalTransition(f"Recording {recording_id} is already stored.")
    nxt = next_version(ix)
    nxt.recordings[i] = rec.model_copy(update={"uri": uri, "status": "stored"})
    log(nxt, now, "recording_stored", SYSTEM, "Recording downloaded and stored", recording_id=recording_id)
    return Change(nxt, EventType.RECORDING_STORED, {"recording_id": recording_id})


class ProviderReport(StrEnum):
    """What a provider (or call control) reports about the live contact; each kind has its own event type."""

    CALL_STATUS = "call_status"
    CONSULT_STATUS = "consult_status"
    RECORDING_STATUS = "recording_status"
    TRANSCRIPTION_STATUS = "transcription_status"
    LIVE_TRANSCRIPTION = "live_transcription"


#: The event recording each kind of report.
REPORTED: dict[ProviderReport, EventType] = {
    ProviderReport.CALL_STATUS: EventType.CALL_STATUS,
    ProviderReport.CONSULT_STATUS: EventType.CONSULT_STATUS,
    ProviderReport.RECORDING_STATUS: EventType.RECORDING_STATUS,
    ProviderReport.TRANSCRIPTION_STATUS: EventType.TRANSCRIPTION_STATUS,
    ProviderReport.LIVE_TRANSCRIPTION: EventType.LIVE_TRANSCRIPTION,
}


def provider_status(
    ix: Interaction,
    *,
    kind: ProviderReport,
    status: str,
    detail: str,
    now: datetime,
    by: str | None = None,
    **data: Any,
) -> Change:
    """A report about the live contact
    (call ringing or completed, audio connected, a recording or transcription's progress), kept in the feed.

    ``by``: the user who caused it (call control), else the customer's provider or the system.
    """
    check(Command.PROVIDER_STATUS, ix, None)
    nxt = next_version(ix)
    log(
        nxt,
        now,
        kind.value,
        by or (CUSTOMER if kind is ProviderReport.CALL_STATUS else SYSTEM),
        detail,
        status=status,
        **data,
    )
    return Change(nxt, REPORTED[kind], {"status": status, **data})


def divert_to_voicemail(ix: Interaction, *, now: datetime, reason: str) -> Change:
    """An unanswered call becomes a voicemail: the caller is leaving a message instead.

    Only a phone call: its caller is on the provider's line, which records the message; a browser call has no voicemail.
    """
    check(Command.DIVERT_TO_VOICEMAIL, ix, None)
    if (ix.type, ix.subtype) != reach.PHONE:
        raise IllegalTransition(
            f"Only phone calls go to voicemail; interaction {ix.id} is {ix.type.value}/{ix.subtype.value}."
        )
    nxt = next_version(ix)
    to_queue(nxt)
    nxt.channel_history.append(
        ChannelChange(
            at=now,
            by=SYSTEM,
            from_type=ix.type,
            from_subtype=ix.subtype,
            to_type=CommType.VOICEMAIL,
            to_subtype=Subtype.VOICEMAIL,
        )
    )
    nxt.type, nxt.subtype = CommType.VOICEMAIL, Subtype.VOICEMAIL
    log(nxt, now, "voicemail", SYSTEM, f"Sent to voicemail: {reason}")
    return Change(
        nxt,
        EventType.CHANNEL_SWITCHED,
        {"from": f"{ix.type.value}/{ix.subtype.value}", "to": "voicemail/voicemail", "reason": reason},
    )


def attach_transcript(ix: Interaction, *, transcript: Transcript, now: datetime) -> Change:
    check(Command.ATTACH_TRANSCRIPT, ix, None)
    if any(t.id == transcript.id for t in ix.transcripts):
        raise IllegalTransition(f"Transcript {transcript.id} is already attached to interaction {ix.id}.")
    nxt = next_version(ix)
    nxt.transcripts.append(transcript)
    log(nxt, now, "transcript_attached", SYSTEM, "Transcript attached", transcript_id=transcript.id)
    return Change(nxt, EventType.TRANSCRIPT_ATTACHED, {"transcript_id": transcript.id})
