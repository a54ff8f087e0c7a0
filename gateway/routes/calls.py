"""Live call audio: browsers joining a call (agent, consulted user, supervisor, customer), and call control."""

from __future__ import annotations

import secrets

from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from channels.call_legs import PeerLeg
from channels.chat import UNKNOWN_SESSION
from channels.chat_driver import interaction_of
from channels.live_calls import LINE_PARTS, LiveCalls
from channels.mixer import Part
from channels.voice_bridge import AGENT, CALLER, CONSULT, Bridge, monitor_leg
from sessions.errors import IllegalTransition, NotFound
from sessions.model import CommType, DisconnectReason, Interaction, LinePart, MonitorMode, State, Subtype, User

from ..errors import RequestError
from ..operations import Call, Operations
from ..schemas import CustomerCall, CustomerHangup, MonitorBody, SessionDescription, Toggle, WebrtcOffer

ops = Operations("calls")

#: A web call is recorded at wideband rate: both sides are browsers, there is no 8 kHz leg to match.
WEB_RECORDING_RATE = 16_000


def _live(call: Call) -> LiveCalls:
    return call.request.app.state.live_calls


async def _answer(
    bridge: Bridge,
    leg_id: str,
    part: Part,
    body: WebrtcOffer | CustomerCall,
    mode: MonitorMode = MonitorMode.LISTEN,
    user_id: str | None = None,
    ix: Interaction | None = None,
) -> SessionDescription:
    try:
        answer = await bridge.connect_peer(
            leg_id, part, body.sdp, body.type, mode, user_id, call=ix.call if ix else None
        )
    except (
        ValueError,
        IndexError,
        KeyError,
        AttributeError,
        TypeError,
        InvalidStateError,
        InvalidAccessError,
        OperationError,
        InternalError,
    ) as exc:
        raise RequestError(422, "invalid_sdp", f"The SDP offer could not be used: {exc}") from None
    return SessionDescription(sdp=answer.sdp, type=answer.type)


def _own_leg(user: User, ix: Interaction, bridge: Bridge) -> str:
    """The leg of this user's own browser (never an outside party's leg, nor another user's)."""
    for leg_id in (AGENT, CONSULT, monitor_leg(user.id)):
        leg = bridge.legs.get(leg_id)
        if isinstance(leg, PeerLeg) and leg.user_id == user.id:
            return leg_id
    raise IllegalTransition(f"{user.name} is not connected to the audio of interaction {ix.id}.")


@ops("POST", "/api/webrtc/offer", body=WebrtcOffer, response=SessionDescription)
async def webrtc_offer(call: Call) -> SessionDescription:
    """Answers a browser's SDP offer and puts it on the call: as its agent,
    as the user consulted, or as a supervisor (listen, whisper or barge)."""
    live = _live(call)
    ix = await call.sessions.get(call.user, call.body.interaction_id)
    bridge = live.require(ix.id)
    leg_id, part = live.leg_for(call.user, ix)
    answer = await _answer(bridge, leg_id, part, call.body, call.body.mode, call.user.id, ix)
    if part is Part.CONSULT and ix.consult is not None and ix.consult.joined_at is None:
        await call.sessions.join_consult(call.user, ix.id)  # on the line: the consulted user has accepted
    if part is Part.MONITOR:
        await live.follow(await call.sessions.monitor(call.user, ix.id, call.body.mode))
    else:
        await call.sessions.audio_joined(call.user, ix.id, LINE_PARTS[part])
    return answer


@ops("POST", "/api/interactions/{interaction_id}/monitor", body=MonitorBody, response=MonitorBody)
async def monitor(call: Call) -> MonitorBody:
    """Switches a supervisor's connection to a call between listen,
    whisper (the agent hears them) and barge-in (everyone does)."""
    live = _live(call)
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    if not live.require(ix.id).has(monitor_leg(call.user.id)):
        raise IllegalTransition(f"{call.user.name} is not monitoring interaction {ix.id}: connect with an offer first.")
    after = await live.follow(await call.sessions.monitor(call.user, ix.id, call.body.mode))
    assert after.call is not None  # the monitor command sets it
    return MonitorBody(mode=after.call.monitors[call.user.id])


@ops("POST", "/api/interactions/{interaction_id}/audio/leave")
async def leave_audio(call: Call) -> None:
    """Disconnects one's own browser from the call
    (a supervisor stops monitoring; an agent's leaving holds the caller)."""
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    bridge = _live(call).require(ix.id)
    leg_id = _own_leg(call.user, ix, bridge)
    part = bridge.legs[leg_id].party.role
    await bridge.remove(leg_id)
    if part is Part.MONITOR:
        await call.sessions.monitor_stopped(call.user, ix.id)
    else:
        await call.sessions.audio_left(call.user, ix.id, LINE_PARTS[part])


@ops("POST", "/api/interactions/{interaction_id}/hold", body=Toggle, response=Toggle)
async def hold(call: Call) -> Toggle:
    """Puts the caller on hold (they hear silence) or back."""
    live = _live(call)
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    bridge = live.require(ix.id)
    await live.follow(await call.sessions.hold(call.user, ix.id, call.body.on))
    return Toggle(on=bridge.held)


@ops("POST", "/api/interactions/{interaction_id}/mute", body=Toggle, response=Toggle)
async def mute(call: Call) -> Toggle:
    """Mutes or unmutes one's own microphone on the call."""
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    bridge = _live(call).require(ix.id)
    bridge.mute(_own_leg(call.user, ix, bridge), call.body.on)
    return Toggle(on=call.body.on)


@ops("POST", "/api/interactions/{interaction_id}/consult/three-way", body=Toggle, response=Toggle)
async def three_way(call: Call) -> Toggle:
    """During a consult: brings the caller into the conversation with the consulted party (or back to holding)."""
    live = _live(call)
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    live.require(ix.id)
    after = await live.follow(await call.sessions.three_way(call.user, ix.id, call.body.on))
    assert after.call is not None  # the three-way command sets it
    return Toggle(on=after.call.three_way)


# -- the customer's side: a call from the chat widget -------------------------------


async def _customer_interaction(call: Call, token: str) -> Interaction:
    ix_id = await interaction_of(call.request.app.state.threads, token)
    if ix_id is None:
        raise NotFound(UNKNOWN_SESSION)
    ix = await call.sessions.interaction(ix_id)
    if ix.state is not State.ACTIVE:
        raise IllegalTransition("This conversation has ended; start a new chat to call.")
    return ix


@ops("POST", "/api/chat/call", body=CustomerCall, response=SessionDescription, authenticated=False)
async def customer_call(call: Call) -> SessionDescription:
    """A customer calls from the chat widget (WebRTC): the conversation continues as a call/webrtc, same interaction."""
    live = _live(call)
    ix = await _customer_interaction(call, call.body.token)
    bridge = live.get(ix.id)
    if bridge is not None and isinstance(bridge.legs.get(CALLER), PeerLeg):
        return await _answer(bridge, CALLER, Part.CALLER, call.body)  # the same call, reconnecting
    if bridge is not None:
        raise IllegalTransition("This conversation is already on a phone call.")
    bridge = await live.open(ix, f"WR{secrets.token_hex(16)}", WEB_RECORDING_RATE)
    try:
        answer = await _answer(bridge, CALLER, Part.CALLER, call.body)
    except BaseException:
        await live.discard(bridge)  # nothing happened: no channel switch, no recording
        raise
    if (ix.type, ix.subtype) != (CommType.CALL, Subtype.WEBRTC):
        await call.sessions.switch_channel(None, ix.id, CommType.CALL, Subtype.WEBRTC)
    await call.sessions.audio_joined(None, ix.id, LinePart.CALLER)
    return answer


@ops("POST", "/api/chat/hangup", body=CustomerHangup, authenticated=False)
async def customer_hangup(call: Call) -> None:
    """The customer hangs up a web call; the conversation goes on as chat."""
    ix = await _customer_interaction(call, call.body.token)
    bridge = _live(call).get(ix.id)
    if bridge is None or not isinstance(bridge.legs.get(CALLER), PeerLeg):
        raise IllegalTransition("There is no call from this chat to hang up.")
    await _live(call).web_call_ended(bridge, DisconnectReason.HANG_UP)
