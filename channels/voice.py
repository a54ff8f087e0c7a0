"""Twilio voice: inbound calls, call status, outbound calls, and unanswered calls to voicemail."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sessions.disconnect import CALL_STATUS
from sessions.errors import AlreadyExists, DomainError, IllegalTransition, StoreUnavailable, Unrouted
from sessions.events import Event, EventType
from sessions.model import CommType, Customer, Interaction, State, Subtype

from .twilio import (
    ACTION_RETRIES,
    STREAM_ENDED_PATH,
    TwilioContext,
    connect_twiml,
    derived_id,
    dial_twiml,
    hangup_twiml,
    need,
    say_twiml,
    voicemail_twiml,
)
from .twilio_rest import ProviderError

log = logging.getLogger("channels.voice")

#: Voicemail transcriptions and live-call transcription callbacks (told apart by ``TranscriptionEvent``).
TRANSCRIPTION_PATH = "/webhooks/twilio/transcription"
#: Where a diverted call goes (the ``to`` of its channel switch).
VOICEMAIL = f"{CommType.VOICEMAIL.value}/{Subtype.VOICEMAIL.value}"
NOT_IN_SERVICE = "Sorry, this number is not in service."
#: No queue takes the call (a configuration gap, logged by the core): the caller hears an apology, never the gap.
UNROUTED = "Sorry, we can't take your call right now. Please try again later."
CONSULT_STATUS = {
    "initiated": "dialling",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "hung up",
    "busy": "busy",
    "no-answer": "no answer",
    "failed": "the call failed",
    "canceled": "cancelled",
}


class VoiceChannel:
    def __init__(self, ctx: TwilioContext) -> None:
        self.ctx = ctx

    async def twiml_for(self, ix: Interaction, *, resumed: bool = False) -> str:
        """What the caller's call does now: voicemail, or a media stream to the gateway whose end (the socket closing,
        for whatever reason) comes back to ``STREAM_ENDED_PATH``; ``resumed``: a new stream for the same phone call."""
        queue = await self.ctx.sessions.queue(ix.queue_id)
        transcription = self.ctx.url(TRANSCRIPTION_PATH) if queue.settings.transcription else None
        if ix.type is CommType.VOICEMAIL:
            return voicemail_twiml(
                queue.settings.voicemail_greeting, self.ctx.url("/webhooks/twilio/recording"), transcription
            )
        # The queue's transcription setting also covers live calls:
        # Twilio's Real-Time Transcription, same callback path.
        return connect_twiml(
            ix,
            self.ctx.media_url,
            transcription_url=transcription,
            action_url=self.ctx.url(STREAM_ENDED_PATH) + ACTION_RETRIES,
            resumed=resumed,
        )

    async def stream_ended(self, params: dict[str, str]) -> str:
        """Twilio's ``<Connect action>``: the caller's media stream closed.  A caller who hung up ends the call (their
        stream's ``stop`` came first, and the call is over: Twilio ignores this answer); a stream that closed under
        a live phone call means the process holding it went away (killed, or stopping): the caller gets a new stream,
        which lands on a process that takes the call over.  Anything else hangs up (nothing would take the call)."""
        call_sid = need(params, "CallSid")
        ix_id = await self.ctx.threads.interaction_of_call(call_sid)
        ix = await self.ctx.sessions.interaction(ix_id) if ix_id is not None else None
        if ix is None or ix.state is not State.ACTIVE or params.get("CallStatus") in CALL_STATUS:
            return hangup_twiml()
        if ix.type is CommType.VOICEMAIL:
            return await self.twiml_for(ix)  # the call went to voicemail meanwhile: the greeting and the recording
        if (ix.type, ix.subtype) != (CommType.CALL, Subtype.PHONE):
            return hangup_twiml()
        try:
            await self.ctx.sessions.note_stream_lost(ix.id)
        except StoreUnavailable as exc:  # only the measured gap is lost: the caller is not
            log.warning("stream loss of %s not noted: %s", ix.id, exc)
        return await self.twiml_for(ix, resumed=True)

    async def inbound(self, params: dict[str, str]) -> str:
        """The call arrives: store it (routed), then tell Twilio what to do with the caller."""
        call_sid, caller, called = need(params, "CallSid"), need(params, "From"), need(params, "To")
        sessions, threads = self.ctx.sessions, self.ctx.threads
        known = await threads.interaction_of_call(call_sid)
        if known is not None:
            return await self.twiml_for(await sessions.interaction(known))
        ix = await self._ongoing(caller, called)
        if ix is None:
            hint = await sessions.queue_for_number(called)
            ix_id = derived_id("call", call_sid)
            try:
                event = await sessions.route_inbound(
                    type=CommType.CALL,
                    subtype=Subtype.PHONE,
                    customer=Customer(phone=caller),
                    to_address=called,
                    queue_hint=hint.id if hint else None,
                    id=ix_id,
                    voicemail_when_unstaffed=True,
                )
                ix = event.interaction
            except AlreadyExists:  # the same call delivered twice at once
                ix = await sessions.interaction(ix_id)
            except Unrouted:
                return say_twiml(UNROUTED)
            except DomainError as exc:
                log.warning("call %s to %s not taken: %s", call_sid, called, exc)
                return say_twiml(NOT_IN_SERVICE)
            assert ix is not None
            await threads.link_thread(caller, called, ix.id)
        await threads.link_call(call_sid, ix.id)
        return await self.twiml_for(ix)

    async def _ongoing(self, caller: str, called: str) -> Interaction | None:
        """An active interaction with this customer on this number continues as this call."""
        tid = await self.ctx.threads.thread(caller, called)
        if tid is None:
            return None
        ix = await self.ctx.sessions.interaction(tid)
        if ix.state is not State.ACTIVE:
            return None
        if ix.type is not CommType.CALL:
            ix = (await self.ctx.sessions.switch_channel(None, ix.id, CommType.CALL, Subtype.PHONE)).interaction
        return ix

    async def status(self, params: dict[str, str]) -> None:
        """Call progress.  A final status ends the contact: before anyone answered it is an abandon (it counts for SLA);
        on a claimed call it says who disconnected (the customer hanging up, the provider: busy, no answer, failed)."""
        call_sid, status = need(params, "CallSid"), need(params, "CallStatus")
        consulted = await self.ctx.threads.interaction_of_consult_call(call_sid)
        if consulted is not None:
            # The number dialled for a consult: the agent sees whether it rings, answers or not (then cancels).
            await self.ctx.sessions.provider_status(
                consulted,
                kind="consult_status",
                status=status,
                detail=f"Consulted number: {CONSULT_STATUS.get(status, status)}",
                call_sid=call_sid,
            )
            return
        ix_id = await self.ctx.threads.interaction_of_call(call_sid)
        if ix_id is None:
            log.info("status %s for unknown call %s ignored", status, call_sid)
            return
        data = {"call_sid": call_sid, **({"duration": params["CallDuration"]} if params.get("CallDuration") else {})}
        await self.ctx.sessions.provider_status(
            ix_id, kind="call_status", status=status, detail=f"Call {status}", **data
        )
        if status in CALL_STATUS:  # a final status: the core says what it means
            try:
                # Waiting: an abandon; claimed: wrap-up (or kept, per the queue);
                # already ended or gone on by text: nothing.
                await self.ctx.sessions.call_ended(ix_id, status)
            except IllegalTransition as exc:
                log.debug("call %s %s: %s", call_sid, status, exc)

    async def dial(self, ix: Interaction) -> Interaction:
        """Places an agent's outbound call; the customer, once answered, is bridged to the agent's stream."""
        if not ix.customer.phone or not ix.to_address:
            raise ProviderError(
                "An outbound call needs the customer's phone and the queue's phone number.", "no_number"
            )
        twiml = await self.twiml_for(ix)
        sent = await self.ctx.rest.create_call(
            to=ix.customer.phone,
            from_=ix.to_address,
            twiml=twiml,
            status_callback=self.ctx.url("/webhooks/twilio/voice/status"),
        )
        await self.ctx.threads.link_call(sent.sid, ix.id)
        await self.ctx.threads.link_thread(ix.customer.phone, ix.to_address, ix.id)
        return (
            await self.ctx.sessions.provider_status(
                ix.id, kind="call_status", status=sent.status, detail=f"Outbound call {sent.status}", call_sid=sent.sid
            )
        ).interaction  # type: ignore[return-value]

    async def transfer_out(self, ix: Interaction, number: str) -> None:
        """Connects the live call to an outside number through Twilio (a cold external transfer)."""
        call_sid = await self.ctx.threads.current_call(ix.id)
        if call_sid is None:
            return  # not a Twilio call: nothing live to move
        await self.ctx.rest.redirect_call(call_sid, dial_twiml(number, ix.to_address))

    async def consult_out(self, ix: Interaction, number: str) -> str:
        """Dials an outside number for a warm transfer's consult;
        its media stream joins the call's bridge.  Returns its SID."""
        if not ix.to_address:
            raise ProviderError("A consult call needs the queue's phone number to call from.", "no_number")
        sent = await self.ctx.rest.create_call(
            to=number,
            from_=ix.to_address,
            twiml=connect_twiml(ix, self.ctx.media_url, leg="consult"),
            status_callback=self.ctx.url("/webhooks/twilio/voice/status"),
        )
        await self.ctx.threads.link_consult_call(sent.sid, ix.id)
        return sent.sid

    async def hang_up(self, call_sid: str) -> None:
        await self.ctx.rest.hang_up(call_sid)

    async def follow(self, events: Iterable[Event]) -> None:
        """Redirects the calls the timers sent to voicemail (their committed divert) to the voicemail TwiML.

        Run by the process that committed the events, so each call is redirected once.  A refusal by
        Twilio is logged and noted in the interaction's feed; the other calls are still redirected.
        """
        for event in events:
            ix = event.interaction
            if event.type is EventType.CHANNEL_SWITCHED and ix is not None and event.data.get("to") == VOICEMAIL:
                await self._to_voicemail(ix)

    async def _to_voicemail(self, ix: Interaction) -> None:
        call_sid = await self.ctx.threads.current_call(ix.id)
        if call_sid is None:
            log.warning("%s went to voicemail but no Twilio call is known for it", ix.id)
            return
        try:
            await self.ctx.rest.redirect_call(call_sid, await self.twiml_for(ix))
        except ProviderError as exc:
            log.warning("could not send %s (call %s) to voicemail: %s", ix.id, call_sid, exc)
            await self.ctx.sessions.provider_status(
                ix.id,
                kind="call_status",
                status="failed",
                detail=f"Call not sent to voicemail: {exc}",
                call_sid=call_sid,
                error=exc.code,
            )
