"""Recordings and transcriptions: attached at once, the audio downloaded and kept under GATEWAY_DATA_DIR.

A recording is attached as *pending* with the provider's URL before any
download is tried, so a failed download loses nothing: the retry loop
(`retry_pending`) finishes the job later, from whichever process holds the
lease.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from sessions.errors import IllegalTransition
from sessions.model import Recording, Transcript

from .twilio import TwilioContext, need
from .twilio_rest import ProviderError

log = logging.getLogger("channels.voicemail")
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def recording_path(data_dir: Path, recording_id: str) -> Path:
    if not SAFE_ID.match(recording_id):
        raise ValueError(f"unsafe recording id {recording_id!r}")
    return data_dir / "recordings" / f"{recording_id}.wav"


class VoicemailChannel:
    def __init__(self, ctx: TwilioContext) -> None:
        self.ctx = ctx

    async def _interaction_of(self, recording_sid: str, params: dict[str, str]) -> str | None:
        """By the recording, or (the first report of it) by the call it was made on."""
        by_recording = await self.ctx.threads.interaction_of_recording(recording_sid)
        return by_recording or await self.ctx.threads.interaction_of_call(params.get("CallSid", ""))

    async def recording(self, params: dict[str, str]) -> str | None:
        """Attaches the recording (pending), then tries the download; returns the interaction id, if known."""
        sid, url = need(params, "RecordingSid"), need(params, "RecordingUrl")
        if not SAFE_ID.match(sid):
            raise ValueError("RecordingSid is malformed")
        status = params.get("RecordingStatus", "completed")  # the <Record action> request carries no status
        ix_id = await self._interaction_of(sid, params)
        if ix_id is None:
            log.warning("recording %s for an unknown call ignored", sid)
            return None
        if status != "completed":
            await self.ctx.sessions.provider_status(
                ix_id, kind="recording_status", status=status, detail=f"Recording {status}", recording_sid=sid
            )
            return ix_id
        duration = params.get("RecordingDuration")
        recording = Recording(
            id=sid,
            at=self.ctx.sessions.clock.now(),
            provider_id=sid,
            source_url=url,
            status="pending",
            duration_seconds=float(duration) if duration and duration.replace(".", "", 1).isdigit() else None,
        )
        try:
            await self.ctx.sessions.attach_recording(ix_id, recording)
        except IllegalTransition:
            pass  # the status callback and the <Record> action both report it
        await self.ctx.threads.link_recording(sid, ix_id)
        await self.fetch(sid, ix_id)
        return ix_id

    async def fetch(self, recording_id: str, ix_id: str) -> bool:
        """Downloads one pending recording; False (kept pending) if the provider fails."""
        ix = await self.ctx.sessions.interaction(ix_id)
        rec = next((r for r in ix.recordings if r.id == recording_id), None)
        if rec is not None and rec.status == "stored":
            await self.ctx.threads.recording_stored(recording_id)
            return True
        if rec is None or not self.ctx.rest.configured or rec.source_url is None:
            return False
        url = rec.source_url if re.search(r"\.(wav|mp3)$", rec.source_url) else rec.source_url + ".wav"
        try:
            audio = await self.ctx.rest.download(url)
        except ProviderError as exc:
            log.warning("recording %s not downloaded yet: %s", recording_id, exc)
            return False
        path = recording_path(self.ctx.data_dir, recording_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(audio)
        os.replace(partial, path)  # never a half-written file under the final name
        try:
            await self.ctx.sessions.recording_stored(
                ix_id, recording_id, f"/api/interactions/{ix_id}/recordings/{recording_id}"
            )
        except IllegalTransition:
            pass
        await self.ctx.threads.recording_stored(recording_id)
        return True

    async def retry_pending(self, owner: str) -> int:
        """Retries every pending download (one process at a time); returns how many were stored."""
        sessions = self.ctx.sessions
        if not await sessions.lease("recordings", owner, 60):
            return 0
        try:
            stored = 0
            for rec_id, ix_id in (await self.ctx.threads.pending_recordings()).items():
                stored += await self.fetch(rec_id, ix_id)
            return stored
        finally:
            await sessions.release("recordings", owner)

    async def transcription(self, params: dict[str, str]) -> None:
        sid, status = need(params, "TranscriptionSid"), params.get("TranscriptionStatus", "completed")
        rec_sid = params.get("RecordingSid", "")
        ix_id = await self._interaction_of(rec_sid, params)
        if ix_id is None:
            log.warning("transcription %s for an unknown recording ignored", sid)
            return
        if status != "completed":
            await self.ctx.sessions.provider_status(
                ix_id,
                kind="transcription_status",
                status=status,
                detail=f"Transcription {status}",
                transcription_sid=sid,
            )
            return
        transcript = Transcript(
            id=sid,
            at=self.ctx.sessions.clock.now(),
            text=params.get("TranscriptionText", ""),
            recording_id=rec_sid or None,
        )
        try:
            await self.ctx.sessions.attach_transcript(ix_id, transcript)
        except IllegalTransition:
            pass  # delivered twice
