"""The agent softphone: WebRTC offer/answer for a live call, hold and mute."""

from __future__ import annotations

from sessions.errors import IllegalTransition, PermissionDenied
from sessions.model import Role, User

from ..operations import Call, Operations
from ..schemas import SessionDescription, Toggle, WebrtcOffer

ops = Operations("calls")


async def _bridge(call: Call, interaction_id: str):
    ix = await call.sessions.get(call.user, interaction_id)
    _require_handler(call.user, ix.assigned_to)
    bridge = call.request.app.state.bridges.get(ix.id)
    if bridge is None:
        raise IllegalTransition(f"Interaction {ix.id} has no live call on this gateway node.")
    return ix, bridge


def _require_handler(user: User, assigned_to: str | None) -> None:
    if user.id != assigned_to and user.role is Role.AGENT:
        raise PermissionDenied("Only the agent handling this call connects its audio.")


@ops("POST", "/api/webrtc/offer", body=WebrtcOffer, response=SessionDescription)
async def webrtc_offer(call: Call) -> SessionDescription:
    """Answers the browser's SDP offer: its microphone goes to the caller, the caller to its speaker."""
    _, bridge = await _bridge(call, call.body.interaction_id)
    answer = await bridge.connect_agent(call.body.sdp, call.body.type)
    return SessionDescription(sdp=answer.sdp, type=answer.type)


@ops("POST", "/api/interactions/{interaction_id}/hold", body=Toggle, response=Toggle)
async def hold(call: Call) -> Toggle:
    """Puts the caller on hold (they hear silence) or back."""
    ix, bridge = await _bridge(call, call.path["interaction_id"])
    await bridge.hold(call.body.on)
    await call.sessions.provider_status(ix.id, kind="call_control", status="hold" if call.body.on else "resume", detail=f"{'Held' if call.body.on else 'Resumed'} by {call.user.name}")
    return Toggle(on=bridge.held)


@ops("POST", "/api/interactions/{interaction_id}/mute", body=Toggle, response=Toggle)
async def mute(call: Call) -> Toggle:
    """Mutes or unmutes the agent's microphone towards the caller."""
    _, bridge = await _bridge(call, call.path["interaction_id"])
    bridge.muted = call.body.on
    return Toggle(on=bridge.muted)
