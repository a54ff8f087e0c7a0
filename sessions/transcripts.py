"""Live-call transcripts: the provider's final utterances, kept on the interaction in the order they were spoken.

The provider numbers the callbacks of one transcription session (``sequence``) but delivers them
over HTTP, at least once and in any order, sometimes after the call (and the interaction) ended.
So the rule is written here once: a segment is kept whatever the interaction's state (the record of
what was said belongs to the completed interaction too), a second delivery of the same segment is
refused (its id is derived from the session and the sequence), and the list is always sorted by
session, then sequence, never by arrival.  Sessions are ordered by when their first utterance was
said: a call whose transcription was restarted reads in the order it happened.

Each kept segment is an ``interaction.transcript_segment_added`` event, so consoles show it live;
the activity feed is not written per utterance (it is for what people and the system did, and a
call's words would drown it), only the session's start, stop and errors (``provider_status``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from .clock import Clock
from .errors import IllegalTransition
from .events import Change, Event, EventType
from .model import Interaction, TranscriptSegment
from .text import clean_text


def ordered(segments: Iterable[TranscriptSegment]) -> list[TranscriptSegment]:
    """Sessions in the order their first utterance was said, each session's segments by sequence."""
    items = list(segments)
    began: dict[str, datetime] = {}
    for s in items:
        if s.transcription_id not in began or s.at < began[s.transcription_id]:
            began[s.transcription_id] = s.at
    return sorted(items, key=lambda s: (began[s.transcription_id], s.transcription_id, s.sequence))


def add_segment(ix: Interaction, *, segment: TranscriptSegment, now: datetime) -> Change:
    """Keeps one final utterance, in any state, in its place; refuses one already kept (a redelivery)."""
    if any(s.id == segment.id for s in ix.live_transcript):
        raise IllegalTransition(f"Transcript segment {segment.id} is already on interaction {ix.id}.")
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    nxt.live_transcript = ordered([*nxt.live_transcript, segment])
    return Change(
        nxt,
        EventType.TRANSCRIPT_SEGMENT_ADDED,
        {
            "segment_id": segment.id,
            "sequence": segment.sequence,
            "speaker": segment.speaker.value,
            "late": not ix.is_active,
        },
    )


class LiveTranscripts:
    """``Sessions``' command for live transcripts (inherited, like ``Floor``)."""

    clock: Clock

    async def _update(
        self, interaction_id: str, decide: Callable[[Interaction], Change]
    ) -> Event:  # Sessions' read-decide-commit
        raise NotImplementedError

    async def add_transcript_segment(self, interaction_id: str, segment: TranscriptSegment) -> Event:
        """Keeps a final utterance as :func:`clean_text` leaves it (never refused for what was said)."""
        segment = segment.model_copy(update={"text": clean_text(segment.text)})
        return await self._update(interaction_id, lambda ix: add_segment(ix, segment=segment, now=self.clock.now()))
