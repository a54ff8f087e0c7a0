"""Live call audio over HTTP: browsers joining a call (agent, consulted user, supervisor, customer), and call control.

Thin on purpose: authenticate, parse, give the command, answer. What the audio does is
``channels/browser_audio.py`` and ``channels/live_calls.py``'s.
"""

from __future__ import annotations

from aiortc import RTCSessionDescription

from channels.browser_audio import BrowserAudio, InvalidOffer
from channels.chat import UNKNOWN_SESSION
from channels.chat_driver import interaction_of
from channels.live_calls import LiveCalls
from sessions.errors import IllegalTransition, NotFound
from sessions.model import Interaction, State
from sessions.permissions import require_admin

from ..errors import RequestError
from ..operations import Call, Operations
from ..schemas import (
    CustomerCall,
    CustomerHangup,
    MonitorBody,
    SessionDescription,
    Toggle,
    VoiceStats,
    WebrtcOffer,
)

ops = Operations("calls")


def _live(call: Call) -> LiveCalls:
    return call.request.app.state.live_calls


def _browsers(call: Call) -> BrowserAudio:
    return call.request.app.state.browser_audio


def _offer(body: WebrtcOffer | CustomerCall) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=body.sdp, type=body.type)


def _answer(answer: RTCSessionDescription) -> SessionDescription:
    return SessionDescription(sdp=answer.sdp, type=answer.type)


@ops("POST", "/api/webrtc/offer", body=WebrtcOffer, response=SessionDescription)
async def webrtc_offer(call: Call) -> SessionDescription:
    """Answers a browser's SDP offer and puts it on the call: as its agent, as the user consulted, or as a
    supervisor (listen, whisper or barge)."""
    ix = await call.sessions.get(call.user, call.body.interaction_id)
    try:
        return _answer(await _browsers(call).connect(call.user, ix, _offer(call.body), call.body.mode))
    except InvalidOffer as exc:
        raise RequestError(422, "invalid_sdp", str(exc)) from None


@ops("POST", "/api/interactions/{interaction_id}/monitor", body=MonitorBody, response=MonitorBody)
async def monitor(call: Call) -> MonitorBody:
    """Switches a supervisor's connection to a call between listen, whisper (the agent hears them) and barge-in
    (everyone does)."""
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    _browsers(call).require_monitoring(call.user, ix)
    after = await _live(call).follow(await call.sessions.monitor(call.user, ix.id, call.body.mode))
    assert after.call is not None  # the monitor command sets it
    return MonitorBody(mode=after.call.monitors[call.user.id])


@ops("POST", "/api/interactions/{interaction_id}/audio/leave")
async def leave_audio(call: Call) -> None:
    """Disconnects one's own browser from the call (a supervisor stops monitoring; an agent's leaving holds the
    caller)."""
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    await _browsers(call).leave(call.user, ix)


@ops("POST", "/api/interactions/{interaction_id}/hold", body=Toggle, response=Toggle)
async def hold(call: Call) -> Toggle:
    """Puts the caller on hold (they hear silence) or back."""
    live = _live(call)
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    live.require(ix.id)
    after = await live.follow(await call.sessions.hold(call.user, ix.id, call.body.on))
    assert after.call is not None  # the hold command sets it
    return Toggle(on=after.call.held)


@ops("POST", "/api/interactions/{interaction_id}/mute", body=Toggle, response=Toggle)
async def mute(call: Call) -> Toggle:
    """Mutes or unmutes one's own microphone on the call."""
    ix = await call.sessions.get(call.user, call.path["interaction_id"])
    _browsers(call).mute(call.user, ix, call.body.on)
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


@ops("GET", "/api/voice/stats", response=VoiceStats)
async def voice_stats(call: Call) -> VoiceStats:
    """This process's live calls and how its 20 ms mixing clocks kept time since it started (admins).

    Per process, as the audio is: behind a balancer, each answer is the process named in ``X-Switchboard-Node``.
    A capacity measurement (bench/voice_capacity.py) reads the late share from it rather than from the logs.
    """
    require_admin(call.user, "read the voice clocks' figures")
    bridges = _live(call).bridges
    counts = bridges.counts
    return VoiceStats(
        node=call.request.app.state.node,
        bridges=len(bridges.live),
        legs=sum(len(b.legs) for b in bridges.live.values()),
        ticks=counts.ticks,
        late=counts.late,
        skipped=counts.skipped,
    )


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
    """A customer calls from the chat widget (WebRTC): the conversation continues as a call/webrtc, same
    interaction."""
    ix = await _customer_interaction(call, call.body.token)
    try:
        return _answer(await _browsers(call).customer_call(ix, _offer(call.body)))
    except InvalidOffer as exc:
        raise RequestError(422, "invalid_sdp", str(exc)) from None


@ops("POST", "/api/chat/hangup", body=CustomerHangup, authenticated=False)
async def customer_hangup(call: Call) -> None:
    """The customer hangs up a web call; the conversation goes on as chat."""
    ix = await _customer_interaction(call, call.body.token)
    await _browsers(call).customer_hang_up(ix)
