"""What the Twilio adapters share: the services they call, and the TwiML they answer with.

TwiML comes from the ``twilio`` library's builders, never hand-written XML.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Connect, Start, VoiceResponse

from sessions import Sessions
from sessions.model import Interaction

from .threads import Threads
from .twilio_rest import TwilioRest, UnconfiguredTwilio

#: Namespace of interaction ids derived from provider SIDs: a redelivered webhook derives the same id.
PROVIDER_IDS = uuid.UUID("7b6f2a4e-3c1d-4f8e-9a5b-2d6c8e0f1a3b")


def derived_id(kind: str, sid: str) -> str:
    return uuid.uuid5(PROVIDER_IDS, f"{kind}:{sid}").hex


#: Where Twilio opens its media streams (``<Connect><Stream>``).
MEDIA_PATH = "/webhooks/twilio/media"
#: The caller's ``<Connect action>``: Twilio asks here what next when the caller's media stream closed.
STREAM_ENDED_PATH = "/webhooks/twilio/voice/stream-ended"
#: Twilio's connection overrides (a URL fragment, never sent nor signed) for the ``<Connect action>`` request:
#: retried up to 3 times whatever the failure.  That request is what keeps the caller when the process holding
#: the call dies; the balancer's connection to that very process may fail it once, and a lost answer ends the
#: call.  It is idempotent on our side (de-duplicated, and answering twice gives the same TwiML).
ACTION_RETRIES = "#rc=3&rp=all"


def ws_url(public_url: str, path: str, query: str = "") -> str:
    """The websocket URL of ``path`` on the gateway's public address
    (wss behind https): what Twilio connects to, and signs."""
    scheme, _, rest = public_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}" + (f"?{query}" if query else "")


class MissingParameter(Exception):
    """A webhook lacks a field Twilio always sends: not a genuine Twilio request."""


def need(params: dict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise MissingParameter(f"{name} is required")
    return value


@dataclass
class TwilioContext:
    sessions: Sessions
    threads: Threads
    #: ``UnconfiguredTwilio`` when TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are not set: nothing goes out.
    rest: TwilioRest | UnconfiguredTwilio
    public_url: str
    data_dir: Path

    def url(self, path: str) -> str:
        return f"{self.public_url}{path}"

    @property
    def media_url(self) -> str:
        return ws_url(self.public_url, MEDIA_PATH)


def connect_twiml(
    ix: Interaction,
    media_url: str,
    leg: str | None = None,
    transcription_url: str | None = None,
    action_url: str | None = None,
    resumed: bool = False,
) -> str:
    """Bridges the caller to the gateway's media stream (bidirectional: <Connect><Stream>).

    The interaction id travels as a custom parameter; Twilio adds the call SID to the stream's start message itself.
    ``leg`` names a call that joins an existing one (a warm transfer's consult to an outside number).
    ``transcription_url``: first start Twilio's Real-Time Transcription of both sides of the call
    (``<Start><Transcription>``, which runs beside the stream), its utterances posted there.
    ``action_url``: where Twilio asks what next when the stream's socket closes (the caller's stream only: without
    it Twilio ends the call the moment the process holding it goes away; with it any process answers with a new
    stream).  ``resumed``: this stream continues the same phone call after its previous stream was lost (the
    ``resumed`` parameter tells the process it lands on to take the call over rather than start it afresh).
    """
    response = VoiceResponse()
    if transcription_url is not None and not resumed:  # Twilio's transcription runs beside the stream, still on
        response.append(live_transcription(transcription_url))
    connect = Connect(action=action_url, method="POST") if action_url is not None else Connect()
    stream = connect.stream(url=media_url)
    stream.parameter(name="interaction", value=ix.id)
    if leg is not None:
        stream.parameter(name="leg", value=leg)
    if resumed:
        stream.parameter(name="resumed", value="1")
    response.append(connect)
    return str(response)


def live_transcription(status_callback_url: str) -> Start:
    """``<Start><Transcription>`` of both tracks: the caller's (inbound) and what the gateway plays them (the agent's).

    Final utterances only (``partialResults`` false): partial guesses are neither requested nor kept.
    """
    start = Start()
    start.transcription(
        track="both_tracks",
        status_callback_url=status_callback_url,
        status_callback_method="POST",
        partial_results=False,
    )
    return start


def voicemail_twiml(greeting: str, recording_url: str, transcription_url: str | None) -> str:
    response = VoiceResponse()
    response.say(greeting)
    options = {"transcribe": True, "transcribe_callback": transcription_url} if transcription_url else {}
    response.record(
        action=recording_url,
        recording_status_callback=recording_url,
        recording_status_callback_event="completed",
        max_length=180,
        play_beep=True,
        **options,
    )
    response.hangup()
    return str(response)


def dial_twiml(number: str, caller_id: str | None) -> str:
    """Hands the live call to an outside number (the caller leaves the media stream)."""
    response = VoiceResponse()
    response.dial(number, caller_id=caller_id)
    return str(response)


def say_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def empty_messaging_twiml() -> str:
    return str(MessagingResponse())


def messaging_twiml(text: str) -> str:
    """A reply to the text just received."""
    response = MessagingResponse()
    response.message(text)
    return str(response)
