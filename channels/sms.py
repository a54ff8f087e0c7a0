"""Twilio SMS: inbound texts join the customer's active interaction on that number, replies go out by REST."""

from __future__ import annotations

import logging

from sessions.errors import AlreadyExists, IllegalTransition
from sessions.model import CommType, Customer, Direction, Interaction, Message, State, Subtype
from sessions.text import clean_text

from .twilio import TwilioContext, derived_id, need
from .twilio_rest import ProviderError

log = logging.getLogger("channels.sms")


class SmsChannel:
    def __init__(self, ctx: TwilioContext) -> None:
        self.ctx = ctx

    async def inbound(self, params: dict[str, str]) -> str:
        """Stores the text in the customer's active interaction with this number, or a new (linked) one; returns its id.

        Everything is read and validated before the first write, and the body is
        cleaned (never refused: Twilio would retry a refusal forever), so a text
        that creates an interaction cannot fail on its message afterwards.
        """
        sid, sender, number = need(params, "MessageSid"), need(params, "From"), need(params, "To")
        body = clean_text(params.get("Body", ""))
        customer = Customer(phone=sender)
        sessions, threads = self.ctx.sessions, self.ctx.threads
        known = await threads.interaction_of_message(sid)
        if known is not None:
            return known
        current_id = await threads.thread(sender, number)
        current = await sessions.interaction(current_id) if current_id else None
        if current is not None and current.state is State.ACTIVE:
            ix_id = current.id
        else:
            hint = await sessions.queue_for_number(number)
            ix_id = derived_id("sms", sid)
            try:
                await sessions.route_inbound(
                    type=CommType.MESSAGING,
                    subtype=Subtype.TEXT,
                    customer=customer,
                    to_address=number,
                    first_message=body,
                    queue_hint=hint.id if hint else None,
                    id=ix_id,
                    parent_id=current.id if current is not None else None,
                )
            except AlreadyExists:
                pass  # the same text delivered twice at once: the first created it
            await threads.link_thread(sender, number, ix_id)
        message_id = derived_id("sms-message", sid)
        try:
            await sessions.add_message(
                None,
                ix_id,
                direction=Direction.INBOUND,
                body=body,
                channel=Subtype.TEXT,
                provider_id=sid,
                status="received",
                message_id=message_id,
            )
        except IllegalTransition:
            # Already added by a concurrent delivery of the same text.  If not (the conversation completed
            # meanwhile), the refusal stands: Twilio retries, and the retry opens a new linked interaction.
            if not any(m.id == message_id for m in (await sessions.interaction(ix_id)).messages):
                raise
        await threads.link_message(sid, ix_id)
        return ix_id

    async def status(self, params: dict[str, str]) -> None:
        sid, status = need(params, "MessageSid"), need(params, "MessageStatus")
        ix_id = await self.ctx.threads.interaction_of_message(sid)
        if ix_id is None:
            log.info("status %s for unknown message %s ignored", status, sid)
            return
        await self.ctx.sessions.update_message_status(ix_id, sid, status, params.get("ErrorCode") or None)

    async def open_thread(self, ix: Interaction) -> None:
        """From now on the customer's texts to our number join this interaction, even before our first text goes out.

        Called when a conversation becomes a text (a switch, a text follow-up): what the customer sends
        to the number threads back here instead of opening a new interaction.
        """
        if ix.customer.phone and ix.to_address:
            await self.ctx.threads.link_thread(ix.customer.phone, ix.to_address, ix.id)

    async def merged(self, gone: Interaction, survivor: Interaction) -> None:
        """After a merge committed: the customer's texts in the merged-away interaction's thread now join the survivor.

        Only a thread still pointing at the one merged away moves (one the customer has since opened elsewhere stays).
        """
        phone, number = gone.customer.phone, gone.to_address
        if phone and number and await self.ctx.threads.thread(phone, number) == gone.id:
            await self.ctx.threads.link_thread(phone, number, survivor.id)

    async def deliver(self, ix: Interaction, message: Message) -> Interaction:
        """Sends an agent's stored reply; the outcome (sent, or failed with a code) is recorded on the message."""
        sessions = self.ctx.sessions
        try:
            if not ix.customer.phone or not ix.to_address:
                raise ProviderError("The customer's phone number or the queue's number is unknown.", "no_number")
            sent = await self.ctx.rest.send_sms(
                to=ix.customer.phone,
                from_=ix.to_address,
                body=message.body,
                status_callback=self.ctx.url("/webhooks/twilio/sms/status"),
            )
        except ProviderError as exc:
            log.warning("text %s of %s not sent: %s", message.id, ix.id, exc)
            return (
                await sessions.update_message_status(ix.id, message.id, "failed", exc.code or "provider_error")
            ).interaction  # type: ignore[return-value]
        await self.ctx.threads.link_message(sent.sid, ix.id)
        await self.ctx.threads.link_thread(ix.customer.phone, ix.to_address, ix.id)
        return (
            await sessions.update_message_status(ix.id, message.id, sent.status, None, provider_id=sent.sid)
        ).interaction  # type: ignore[return-value]
