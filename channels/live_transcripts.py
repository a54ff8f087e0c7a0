"""Twilio Real-Time Transcription callbacks in, transcript segments out.

A live call of a queue with transcription on starts ``<Start><Transcription>`` (channels/twilio.py);
Twilio then posts, for each transcription session, ``TranscriptionEvent``:

* ``transcription-started`` / ``transcription-stopped`` / ``transcription-error``: kept in the
  interaction's feed (``live_transcription`` entries);
* ``transcription-content`` with ``TranscriptionData`` (JSON: ``transcript``, ``confidence``),
  ``Track`` (``inbound_track``: the caller; ``outbound_track``: what the gateway plays them, the
  agent), ``Final``, ``SequenceId`` and ``Timestamp``.  A final utterance becomes a segment on the
  interaction.  Partial results are not requested (``partialResults="false"``); any that arrive are
  ignored: neither stored nor forwarded.

Callbacks for a call the gateway does not know are ignored (logged): there is nothing to attach to.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime

from sessions.errors import IllegalTransition
from sessions.model import Speaker, TranscriptSegment
from sessions.text import clean_text

from .twilio import TwilioContext, need

log = logging.getLogger("channels.live_transcripts")

SPEAKERS = {"inbound_track": Speaker.CUSTOMER, "outbound_track": Speaker.AGENT}
STATUS = {
    "transcription-started": "Live transcription started",
    "transcription-stopped": "Live transcription stopped",
    "transcription-error": "Live transcription failed",
}


def dedupe_key(params: dict[str, str]) -> str:
    """A delivery's identity when Twilio sends no idempotency token: the session, the event and its sequence."""
    return ":".join(
        (need(params, "TranscriptionSid"), need(params, "TranscriptionEvent"), params.get("SequenceId", ""))
    )


def _segment(params: dict[str, str], sid: str, now: datetime) -> TranscriptSegment | None:
    """The final utterance a content callback carries; None for a partial or an empty one.  ValueError if malformed."""
    if params.get("Final", "").lower() != "true":
        return None
    try:
        data = json.loads(need(params, "TranscriptionData"))
    except json.JSONDecodeError:
        raise ValueError("TranscriptionData is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("transcript", ""), str):
        raise ValueError("TranscriptionData has no transcript")  # noqa: TRY004 (a bad parameter: the webhook answers ValueError with 400)
    text = clean_text(
        data.get("transcript", "")
    ).strip()  # never refused for what was said: cleaned and truncated as texts are
    if not text:
        return None
    sequence = need(params, "SequenceId")
    if not sequence.isascii() or not sequence.isdigit() or len(sequence) > 18:
        raise ValueError("SequenceId must be a whole number")
    track = need(params, "Track")
    if track not in SPEAKERS:
        raise ValueError(f"Track must be one of {', '.join(SPEAKERS)}")
    confidence = data.get("confidence")
    try:
        at = datetime.fromisoformat(params["Timestamp"]) if params.get("Timestamp") else now
    except ValueError:
        raise ValueError("Timestamp is not ISO 8601") from None
    if at.tzinfo is None:
        raise ValueError("Timestamp has no time zone")
    return TranscriptSegment(
        id=f"{sid}:{int(sequence)}",
        transcription_id=sid,
        sequence=int(sequence),
        speaker=SPEAKERS[track],
        text=text,
        at=at,
        confidence=float(confidence)
        if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) and math.isfinite(confidence)
        else None,
    )


class LiveTranscriptChannel:
    def __init__(self, ctx: TwilioContext) -> None:
        self.ctx = ctx

    async def callback(self, params: dict[str, str]) -> None:
        event, sid, call_sid = (
            need(params, "TranscriptionEvent"),
            need(params, "TranscriptionSid"),
            need(params, "CallSid"),
        )
        sessions = self.ctx.sessions
        segment = (
            _segment(params, sid, sessions.clock.now()) if event == "transcription-content" else None
        )  # malformed: 400 before any lookup
        ix_id = await self.ctx.threads.interaction_of_call(call_sid)
        if ix_id is None:
            log.info("live transcription %s for unknown call %s ignored", sid, call_sid)
            return
        if event in STATUS:
            reason = params.get("TranscriptionError") or params.get("ErrorMessage") or ""
            await sessions.provider_status(
                ix_id,
                kind="live_transcription",
                status=event.removeprefix("transcription-"),
                detail=STATUS[event] + (f": {reason[:200]}" if reason else ""),
                transcription_sid=sid,
            )
            return
        if segment is None:
            return  # a partial result, an empty utterance, or an event this version does not know
        try:
            await sessions.add_transcript_segment(ix_id, segment)
        except IllegalTransition:
            pass  # the same utterance delivered twice at once: kept once
