"""Twilio webhooks: authenticate, deduplicate, hand to the channel, answer.

Every POST must carry a valid ``X-Twilio-Signature`` for GATEWAY_PUBLIC_URL
+ path (Twilio signs the public URL it called, not whatever a proxy
forwarded here); otherwise 403 and nothing is read further.  Twilio
delivers at least once, so each request has a dedupe key: the
``I-Twilio-Idempotency-Token`` header where present, else the SID plus the
event.  The first answer is remembered and replayed for retries; the
channels' own derived ids make even a concurrent duplicate a no-op.
``transcription`` serves two products on one path: a voicemail's recording
transcription, and a live call's Real-Time Transcription (its callbacks carry
``TranscriptionEvent``; deduplicated on TranscriptionSid + event + SequenceId).

A signed request is never refused for what the customer wrote: texts and
transcriptions are kept as ``sessions.text.clean_text`` leaves them (control
characters but newline and tab removed; past 10,000 characters truncated,
ending with `` […truncated]``), cleaned before anything is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from channels.live_transcripts import LiveTranscriptChannel
from channels.live_transcripts import dedupe_key as live_transcription_key
from channels.sms import SmsChannel
from channels.twilio import (
    MissingParameter,
    TwilioContext,
    empty_messaging_twiml,
    hangup_twiml,
    messaging_twiml,
    need,
)
from channels.voice import VoiceChannel
from channels.voicemail import VoicemailChannel
from sessions.errors import NotFound, Unrouted

from .errors import RequestError, error_response

log = logging.getLogger("gateway.webhooks")

#: How long a delivery is remembered: Twilio retries within minutes; a day is generous.
DEDUPE_SECONDS = 86_400
XML = "text/xml"
#: Seconds of the dedupe window of a stream-ended request without StreamSid (see ``stream_ended_key``).
STREAM_ENDED_WINDOW = 10


class TwilioWebhooks:
    def __init__(self, ctx: TwilioContext, auth_token: str | None) -> None:
        self.ctx = ctx
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.voice = VoiceChannel(ctx)
        self.sms = SmsChannel(ctx)
        self.voicemail = VoicemailChannel(ctx)
        self.live_transcripts = LiveTranscriptChannel(ctx)

    async def _params(self, request: Request) -> dict[str, str]:
        if self.validator is None:
            raise RequestError(
                403,
                "forbidden",
                "Twilio webhooks are disabled: set TWILIO_AUTH_TOKEN so their signatures can be checked.",
            )
        form = await request.form()
        params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        url = self.ctx.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get("x-twilio-signature", "")
        try:
            valid = bool(signature) and self.validator.validate(url, params, signature)
        except UnicodeEncodeError:
            # Lone surrogates (a form part declared in a charset such as unicode_escape): Twilio signs
            # UTF-8, so no genuine request carries them; refused like any bad signature, never a 500.
            valid = False
        if not valid:
            raise RequestError(403, "forbidden", "Missing or invalid X-Twilio-Signature.")
        return params

    def endpoint(
        self,
        name: str,
        event_key: Callable[[dict[str, str]], str],
        handle: Callable[[dict[str, str]], Awaitable[tuple[str | None, str]]],
    ):
        """Builds one webhook route: ``handle`` returns (body or None for 204, media type)."""

        async def run(request: Request) -> Response:
            params = await self._params(request)
            try:
                key = request.headers.get("i-twilio-idempotency-token") or event_key(params)
            except MissingParameter as exc:
                return error_response(400, "invalid", str(exc))
            sessions = self.ctx.sessions
            dedupe = f"twilio:{name}:{key}"
            cached = await sessions.past_answer(dedupe)
            if cached is not None:
                media_type, _, body = cached.partition("\n")
                return Response(body, media_type=media_type) if body else Response(status_code=204)
            try:
                body, media_type = await handle(params)
            except MissingParameter as exc:
                return error_response(400, "invalid", str(exc))
            except ValueError as exc:
                return error_response(400, "invalid", str(exc))
            await sessions.keep_answer(dedupe, f"{media_type}\n{body or ''}", DEDUPE_SECONDS)
            return Response(body, media_type=media_type) if body else Response(status_code=204)

        run.__name__ = f"twilio_{name.replace('/', '_')}"
        return run

    def routes(self) -> list[Route]:
        def sid(name: str, *extra: str) -> Callable[[dict[str, str]], str]:
            def key(params: dict[str, str]) -> str:
                value = params.get(name, "")
                if not value:
                    raise MissingParameter(f"{name} is required")
                return ":".join([value, *(params.get(e, "") for e in extra)])

            return key

        def stream_ended_key(params: dict[str, str]) -> str:
            """One call's stream may end several times (each process holding it in turn going away), so CallSid
            alone would replay the first answer to the second loss.  Tried after the idempotency token: StreamSid
            when Twilio sends it (one per stream), else the CallSid and the 10-second window the request arrived in.
            A retry that straddles two windows is answered twice, which is harmless (noting the loss keeps the first
            time; the TwiML is the same); two real losses of one call within 10 s replay the first answer, a
            Connect to the same stream URL, which is still the right answer for that call."""
            call_sid = need(params, "CallSid")
            stream_sid = params.get("StreamSid", "").strip()
            window = int(self.ctx.sessions.clock.now().timestamp() // STREAM_ENDED_WINDOW)
            return f"{call_sid}:{stream_sid}" if stream_sid else f"{call_sid}:t{window}"

        async def voice(params: dict[str, str]) -> tuple[str, str]:
            return await self.voice.inbound(params), XML

        async def voice_status(params: dict[str, str]) -> tuple[None, str]:
            await self.voice.status(params)
            return None, XML

        async def sms(params: dict[str, str]) -> tuple[str, str]:
            try:
                await self.sms.inbound(params)
            except Unrouted as exc:
                # A configuration gap (logged by the core): the texter gets the polite reply, never the gap.
                return messaging_twiml(exc.message), XML
            except NotFound as exc:
                raise RequestError(
                    404, "not_found", f"No queue takes texts to {params.get('To')}: {exc.message}"
                ) from None
            return empty_messaging_twiml(), XML

        async def sms_status(params: dict[str, str]) -> tuple[None, str]:
            await self.sms.status(params)
            return None, XML

        async def recording(params: dict[str, str]) -> tuple[str | None, str]:
            await self.voicemail.recording(params)
            # The <Record action> request (no RecordingStatus) expects TwiML; the status callback does not.
            return (hangup_twiml() if "RecordingStatus" not in params else None), XML

        # One path, two products: a voicemail's recording transcription, and a live call's Real-Time
        # Transcription, whose callbacks (several per session) carry TranscriptionEvent.
        voicemail_transcription_key = sid("TranscriptionSid", "TranscriptionStatus")

        def transcription_key(params: dict[str, str]) -> str:
            return (
                live_transcription_key(params)
                if "TranscriptionEvent" in params
                else voicemail_transcription_key(params)
            )

        async def transcription(params: dict[str, str]) -> tuple[None, str]:
            if "TranscriptionEvent" in params:
                await self.live_transcripts.callback(params)
            else:
                await self.voicemail.transcription(params)
            return None, XML

        async def stream_ended(params: dict[str, str]) -> tuple[str, str]:
            return await self.voice.stream_ended(params), XML

        base = "/webhooks/twilio"
        table = [
            ("voice", sid("CallSid", "CallStatus"), voice),
            ("voice/status", sid("CallSid", "CallStatus"), voice_status),
            ("voice/stream-ended", stream_ended_key, stream_ended),
            ("sms", sid("MessageSid"), sms),
            ("sms/status", sid("MessageSid", "MessageStatus"), sms_status),
            ("recording", sid("RecordingSid", "RecordingStatus"), recording),
            ("transcription", transcription_key, transcription),
        ]
        return [
            Route(f"{base}/{name}", self.endpoint(name, key, handle), methods=["POST"]) for name, key, handle in table
        ]
