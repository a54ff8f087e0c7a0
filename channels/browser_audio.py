"""Browsers on a live call: agents, consulted users, supervisors and customers joining, leaving and muting.

The HTTP routes (``gateway/routes/calls.py``) only authenticate, parse and answer; which leg a browser takes, the
WebRTC negotiation, and the domain records that go with it (a consult accepted, audio joined or left, a monitor
started or stopped) happen here, beside :class:`~channels.live_calls.LiveCalls`, so the media control path stays
inside channels/.
"""

from __future__ import annotations

import secrets

from aiortc import RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from sessions.call_model import LinePart, MonitorMode
from sessions.errors import IllegalTransition
from sessions.model import CommType, DisconnectReason, Interaction, Subtype, User

from .call_legs import PeerLeg
from .elsewhere import Elsewhere
from .live_calls import LINE_PARTS, LiveCalls
from .mixer import Part
from .voice_bridge import AGENT, CALLER, CONSULT, Bridge, monitor_leg

#: A web call is recorded at wideband rate: both sides are browsers, there is no 8 kHz leg to match.
WEB_RECORDING_RATE = 16_000

#: What aiortc raises for an SDP offer it cannot use (malformed, or not something it can answer).
_UNUSABLE_OFFER = (
    ValueError,
    IndexError,
    KeyError,
    AttributeError,
    TypeError,
    InvalidStateError,
    InvalidAccessError,
    OperationError,
    InternalError,
)


class InvalidOffer(Exception):
    """The browser's SDP offer could not be used; the adapter answers 422."""


class BrowserAudio:
    """Puts users' and customers' browsers on the calls this node's :class:`LiveCalls` holds."""

    def __init__(self, live: LiveCalls) -> None:
        self.live = live
        self.sessions = live.sessions

    async def connect(
        self, user: User, ix: Interaction, offer: RTCSessionDescription, mode: MonitorMode
    ) -> RTCSessionDescription:
        """A user's browser joins the call: as its agent, as the user consulted, or as a supervisor monitoring it."""
        bridge = self.live.require(ix.id)
        leg_id, part = self.live.leg_for(user, ix)
        answer = await _negotiate(bridge, leg_id, part, offer, mode, user.id, ix)
        if part is Part.CONSULT and ix.consult is not None and ix.consult.joined_at is None:
            await self.sessions.join_consult(user, ix.id)  # on the line: the consulted user has accepted
        if part is Part.MONITOR:
            await self.live.follow(await self.sessions.monitor(user, ix.id, mode))
        else:
            await self.sessions.audio_joined(user, ix.id, LINE_PARTS[part])
        return answer

    def require_monitoring(self, user: User, ix: Interaction) -> None:
        if not self.live.require(ix.id).has(monitor_leg(user.id)):
            raise IllegalTransition(f"{user.name} is not monitoring interaction {ix.id}: connect with an offer first.")

    async def leave(self, user: User, ix: Interaction) -> None:
        """One's own browser leaves (a supervisor stops monitoring; an agent's leaving holds the caller)."""
        bridge = self.live.require(ix.id)
        leg_id = _own_leg(user, ix, bridge)
        part = bridge.legs[leg_id].party.role
        await bridge.remove(leg_id)
        if part is Part.MONITOR:
            await self.sessions.monitor_stopped(user, ix.id)
        else:
            await self.sessions.audio_left(user, ix.id, LINE_PARTS[part])

    def mute(self, user: User, ix: Interaction, on: bool) -> None:
        bridge = self.live.require(ix.id)
        bridge.mute(_own_leg(user, ix, bridge), on)

    # -- the customer's side: a call from the chat widget ----------------------------------

    async def customer_call(self, ix: Interaction, offer: RTCSessionDescription) -> RTCSessionDescription:
        """The customer calls from the chat widget: the conversation goes on as call/webrtc, same interaction.

        A new offer while their call is on replaces a dropped connection; a conversation already on a phone
        call is refused.  A call that lives in another process (its home renewed, its process registered) is that
        process's to answer (``Elsewhere``: forwarded); otherwise this process opens the bridge and becomes its home.
        """
        bridge = await self._here_or_nowhere(ix.id)
        if bridge is not None and isinstance(bridge.legs.get(CALLER), PeerLeg):
            return await _negotiate(bridge, CALLER, Part.CALLER, offer)  # the same call, reconnecting
        if bridge is not None:
            raise IllegalTransition("This conversation is already on a phone call.")
        bridge = await self.live.open(ix, f"WR{secrets.token_hex(16)}", WEB_RECORDING_RATE)
        try:
            answer = await _negotiate(bridge, CALLER, Part.CALLER, offer)
        except BaseException:
            await self.live.discard(bridge)  # nothing happened: no channel switch, no recording
            raise
        if (ix.type, ix.subtype) != (CommType.CALL, Subtype.WEBRTC):
            await self.sessions.switch_channel(None, ix.id, CommType.CALL, Subtype.WEBRTC)
        await self.sessions.audio_joined(None, ix.id, LinePart.CALLER)
        return answer

    async def customer_hang_up(self, ix: Interaction) -> None:
        """The customer hangs up their web call; the conversation goes on as chat."""
        bridge = await self._here_or_nowhere(ix.id)
        if bridge is None or not isinstance(bridge.legs.get(CALLER), PeerLeg):
            raise IllegalTransition("There is no call from this chat to hang up.")
        await self.live.web_call_ended(bridge, DisconnectReason.HANG_UP)

    async def _here_or_nowhere(self, interaction_id: str) -> Bridge | None:
        """The call's bridge in this process, or None when no live process holds it; :class:`Elsewhere` when another
        does (its home not expired and its process registered), before anything is changed here."""
        bridge = self.live.get(interaction_id)
        if bridge is not None:
            return bridge
        home = await self.sessions.call_home(interaction_id)
        if home is not None and home.node != self.live.node and await self.sessions.node_url(home.node) is not None:
            raise Elsewhere(interaction_id)
        return None


async def _negotiate(
    bridge: Bridge,
    leg_id: str,
    part: Part,
    offer: RTCSessionDescription,
    mode: MonitorMode = MonitorMode.LISTEN,
    user_id: str | None = None,
    ix: Interaction | None = None,
) -> RTCSessionDescription:
    try:
        return await bridge.connect_peer(
            leg_id, part, offer.sdp, offer.type, mode, user_id, call=ix.call if ix else None
        )
    except _UNUSABLE_OFFER as exc:
        raise InvalidOffer(f"The SDP offer could not be used: {exc}") from None


def _own_leg(user: User, ix: Interaction, bridge: Bridge) -> str:
    """The leg of this user's own browser (never an outside party's leg, nor another user's)."""
    for leg_id in (AGENT, CONSULT, monitor_leg(user.id)):
        leg = bridge.legs.get(leg_id)
        if isinstance(leg, PeerLeg) and leg.user_id == user.id:
            return leg_id
    raise IllegalTransition(f"{user.name} is not connected to the audio of interaction {ix.id}.")
