"""Interactions: read one, create outbound, and every command of the state machine.

Commands answer with the interaction as it is after the command (the same
snapshot the event carries to websockets).
"""

from __future__ import annotations

from starlette.responses import FileResponse, Response

from channels.twilio_rest import ProviderError
from channels.voicemail import recording_path
from sessions import reach
from sessions.errors import NotFound
from sessions.events import Event
from sessions.model import ActivityEntry, Direction, Interaction, Subtype

from ..operations import BINARY, Call, Operations
from ..schemas import (
    ClaimBody,
    EditBody,
    EndBody,
    MessageBody,
    NewInteraction,
    NoteBody,
    SwitchBody,
    TransferBody,
    TypingBody,
)

ops = Operations("interactions")


def _after(event: Event) -> Interaction:
    return event.interaction


async def _reach_out(call: Call, ix: Interaction) -> Interaction:
    """Opens the channel an agent just put the customer on (outbound, switch, follow-up).

    A phone call is dialled; a text's thread is opened so the customer's replies come back here.
    """
    hooks = call.request.app.state.webhooks
    if (ix.type, ix.subtype) == reach.PHONE:
        try:
            return await hooks.voice.dial(ix)
        except ProviderError as exc:
            # Kept, with the reason in its feed: the agent sees why and can switch to text or retry.
            return _after(
                await call.sessions.provider_status(
                    ix.id, kind="call_status", status="failed", detail=f"Call not placed: {exc}", error=exc.code
                )
            )
    if (ix.type, ix.subtype) == reach.TEXT:
        await hooks.sms.open_thread(ix)
    return ix


@ops("POST", "/api/interactions", body=NewInteraction, response=Interaction, status=201)
async def create_outbound(call: Call) -> Interaction:
    """Starts an outbound call or text (a chat would reach nobody: 422);
    the creating agent holds it.  A phone call is dialled at once."""
    b: NewInteraction = call.body
    ix = _after(
        await call.sessions.create(
            call.user,
            queue_id=b.queue_id,
            direction=Direction.OUTBOUND,
            type=b.type,
            subtype=b.subtype,
            customer=b.customer,
            tags=b.tags,
            subject=b.subject,
        )
    )
    return await _reach_out(call, ix)


@ops("GET", "/api/interactions/{interaction_id}", response=Interaction)
async def get_interaction(call: Call) -> Interaction:
    """One interaction, active or completed, with its whole history."""
    return await call.sessions.get(call.user, call.path["interaction_id"])


@ops("GET", "/api/interactions/{interaction_id}/activity", response=list[ActivityEntry])
async def activity(call: Call) -> list[ActivityEntry]:
    """The append-only activity feed."""
    return (await call.sessions.get(call.user, call.path["interaction_id"])).activity


@ops("POST", "/api/interactions/{interaction_id}/claim", body=ClaimBody, optional_body=True, response=Interaction)
async def claim(call: Call) -> Interaction:
    """Takes an open interaction of one's queues within one's capacity
    (409 when full; supervisors may override), or accepts an offer."""
    return _after(await call.sessions.claim(call.user, call.path["interaction_id"], override=call.body.override))


@ops("POST", "/api/interactions/{interaction_id}/decline", response=Interaction)
async def decline(call: Call) -> Interaction:
    """Declines an offer; the interaction goes back to its queue."""
    return _after(await call.sessions.decline(call.user, call.path["interaction_id"]))


@ops("POST", "/api/interactions/{interaction_id}/transfer", body=TransferBody, response=Interaction)
async def transfer(call: Call) -> Interaction:
    """Transfers to a user, a queue or an external number; warm (calls) starts a consult while the caller holds."""
    b: TransferBody = call.body
    event = await call.sessions.transfer(call.user, call.path["interaction_id"], b.target, b.mode, b.note.strip())
    return await call.request.app.state.live_calls.follow(event)


@ops("POST", "/api/interactions/{interaction_id}/consult/complete", response=Interaction)
async def complete_consult(call: Call) -> Interaction:
    """Hands a warm-transferred call to the consulted target (the agent leaves the call)."""
    event = await call.sessions.complete_consult(call.user, call.path["interaction_id"])
    return await call.request.app.state.live_calls.follow(event)


@ops("POST", "/api/interactions/{interaction_id}/consult/cancel", response=Interaction)
async def cancel_consult(call: Call) -> Interaction:
    """Abandons a consult; the consulted party leaves and the agent has the caller back."""
    event = await call.sessions.cancel_consult(call.user, call.path["interaction_id"])
    return await call.request.app.state.live_calls.follow(event)


@ops("POST", "/api/interactions/{interaction_id}/switch", body=SwitchBody, response=Interaction)
async def switch(call: Call) -> Interaction:
    """Continues the conversation on another channel that reaches the customer
    (else 422, saying why); same interaction, history kept.

    Switched to text, the customer's replies thread back here; switched to a phone call, the customer is dialled.
    """
    b: SwitchBody = call.body
    return await _reach_out(
        call, _after(await call.sessions.switch_channel(call.user, call.path["interaction_id"], b.type, b.subtype))
    )


@ops("POST", "/api/interactions/{interaction_id}/messages", body=MessageBody, response=Interaction, status=201)
async def send_message(call: Call) -> Interaction:
    """Sends a message to the customer on the interaction's current channel
    (stored first, then delivered; control characters but newline and tab removed)."""
    ix = _after(
        await call.sessions.add_message(
            call.user, call.path["interaction_id"], direction=Direction.OUTBOUND, body=call.body.body
        )
    )
    if ix.subtype is Subtype.TEXT:
        return await call.request.app.state.webhooks.sms.deliver(ix, ix.messages[-1])
    return ix


@ops("GET", "/api/interactions/{interaction_id}/recordings/{recording_id}", response=BINARY)
async def recording_audio(call: Call) -> Response:
    """The audio of a stored recording, for users who may see the interaction and have the right listen_recordings."""
    rec = await call.sessions.recording_for(call.user, call.path["interaction_id"], call.path["recording_id"])
    path = recording_path(call.request.app.state.settings.data_dir, rec.id)
    if not path.is_file():
        raise NotFound(f"The audio of recording {rec.id} is missing on this server.")
    return FileResponse(path, media_type=rec.content_type)


@ops("POST", "/api/interactions/{interaction_id}/typing", body=TypingBody)
async def typing(call: Call) -> None:
    """Tells the customer's chat widget the agent is (or stopped) typing."""
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    await call.sessions.signal(
        ix.id, "chat.typing", {"from": "agent", "active": call.body.active, "user": call.user.id}
    )


@ops("POST", "/api/interactions/{interaction_id}/read", response=Interaction)
async def mark_read(call: Call) -> Interaction:
    """Marks the customer's messages read (the widget shows a read receipt)."""
    return _after(await call.sessions.mark_read(call.user, call.path["interaction_id"]))


@ops("POST", "/api/interactions/{interaction_id}/notes", body=NoteBody, response=Interaction, status=201)
async def add_note(call: Call) -> Interaction:
    """Adds a note and optionally sets the disposition (control characters but newline and tab removed)."""
    b: NoteBody = call.body
    return _after(await call.sessions.add_note(call.user, call.path["interaction_id"], b.body, b.disposition))


@ops("POST", "/api/interactions/{interaction_id}/end", body=EndBody, response=Interaction)
async def end(call: Call) -> Interaction:
    """Ends as resolved (to wrap-up; a live call is hung up) or unresolved
    (back to the queue; the caller holds for the next agent)."""
    event = await call.sessions.end(call.user, call.path["interaction_id"], call.body.outcome)
    return await call.request.app.state.live_calls.follow(event)


@ops("POST", "/api/interactions/{interaction_id}/complete", response=Interaction)
async def complete(call: Call) -> Interaction:
    """Completes a wrapped-up interaction."""
    return _after(await call.sessions.complete(call.user, call.path["interaction_id"]))


@ops("PATCH", "/api/interactions/{interaction_id}", body=EditBody, response=Interaction)
async def edit(call: Call) -> Interaction:
    """Edits customer, tags, subject or disposition as a JSON Merge Patch
    (the customer merges member by member); who completed it, when, and the feed are permanent."""
    changes = call.body.model_dump(mode="json", exclude_unset=True)
    if isinstance(changes.get("customer"), dict):
        changes["customer"].pop("id", None)  # the profile link follows the phone and email, never the client
    return _after(await call.sessions.edit(call.user, call.path["interaction_id"], changes))


@ops("POST", "/api/interactions/{interaction_id}/clone", response=Interaction, status=201)
async def clone(call: Call) -> Interaction:
    """Opens a follow-up linked to this completed one, on a channel that reaches the customer (else 422, saying why).

    Calls and voicemails are called back (dialled at once); texts and chats are followed up by text.
    """
    return await _reach_out(call, _after(await call.sessions.clone(call.user, call.path["interaction_id"])))
