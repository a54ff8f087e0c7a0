"""Live audio follows the interaction: the one owner of this process's bridges.

The domain decides (a transfer, a consult, a hold, an agent gone); :meth:`LiveCalls.follow` moves the audio to
match each committed event: who is on the bridge, who holds, which outside call is dialled or hung up.  The other
way round, what the audio notices (a stream starting or stopping, a browser dropping) is recorded as the domain's
commands (``audio_joined``, ``audio_left``, ``monitor_stopped``, requeue).  Provider failures, and the domain refusing
such a record, are written to the feed or the log rather than raised: the command that caused them stands.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sessions import call_control, disconnect
from sessions.call_model import LinePart
from sessions.errors import DomainError, StoreUnavailable
from sessions.events import Event, EventType
from sessions.model import (
    CommType,
    DisconnectBy,
    DisconnectReason,
    Interaction,
    Recording,
    State,
    Status,
    Subtype,
    TargetKind,
    TransferMode,
    TransferTarget,
    User,
)
from sessions.service import Sessions

from .call_legs import PeerLeg, TwilioLeg
from .elsewhere import Elsewhere
from .following import held_elsewhere
from .ice import check_bindable
from .mixer import Part
from .takeover import HOME_TTL, ReleaseElsewhere, hand_off, unreachable
from .twilio_rest import ProviderError
from .voice import VoiceChannel
from .voice_bridge import AGENT, CALLER, CONSULT, Bridge, Bridges, StereoRecorder, monitor_leg
from .voicemail import recording_path

log = logging.getLogger("channels.live_calls")

#: The place on the line of each leg but a monitor's (monitors are kept by user: ``monitor_stopped``).
LINE_PARTS = {Part.CALLER: LinePart.CALLER, Part.AGENT: LinePart.AGENT, Part.CONSULT: LinePart.CONSULT}
#: How many interactions :meth:`LiveCalls.follow` remembers the last version of (enough for every call in progress).
FOLLOWED_KEPT = 10_000


class LiveCalls:
    """This process's live calls, by interaction.

    ``data_dir`` holds the recordings; ``reconnect_grace`` is how long an agent's dropped audio may take to come
    back before the call is requeued; ``media_addresses`` are the local addresses WebRTC media binds to.
    """

    def __init__(
        self,
        sessions: Sessions,
        voice: VoiceChannel,
        *,
        data_dir: Path,
        reconnect_grace: float,
        media_addresses: tuple[str, ...] = (),
        node: str = "local",
        internal_url: str = "",
        release_elsewhere: ReleaseElsewhere = unreachable,
    ) -> None:
        self.sessions, self.voice = sessions, voice
        #: This process among the gateway's (``sessions/call_homes.py``): where its calls' legs are forwarded.
        self.node, self.internal_url = node, internal_url
        #: Asks the process a call was taken from to let it go (channels/takeover.py).
        self.release_elsewhere = release_elsewhere
        #: Takeovers still settling with the call's old home (kept so they are not collected mid-way).
        self.settling: set[asyncio.Task[None]] = set()
        self.data_dir, self.reconnect_grace, self.media_addresses = data_dir, reconnect_grace, media_addresses
        check_bindable(media_addresses)  # a media address not on this machine stops start-up, not each call
        self.bridges = Bridges()
        #: Outside numbers dialled for a consult, by interaction:
        #: hung up if the consult is cancelled before they answer.
        self.consult_calls: dict[str, str] = {}
        #: The last version of each interaction followed, oldest first: what makes :meth:`follow` idempotent.
        self.followed: dict[str, int] = {}

    def get(self, interaction_id: str) -> Bridge | None:
        return self.bridges.get(interaction_id)

    def require(self, interaction_id: str) -> Bridge:
        """The call's bridge here, or :class:`Elsewhere`: asked before any side effect, so a request landing on the
        wrong process can be forwarded as it came."""
        bridge = self.bridges.get(interaction_id)
        if bridge is None:
            raise Elsewhere(interaction_id)
        return bridge

    # -- a call's life ---------------------------------------------------------------

    async def open(self, ix: Interaction, recording_id: str, rate: int) -> Bridge:
        queue = await self.sessions.queue(ix.queue_id)
        old = self.bridges.get(ix.id)
        if old is not None:  # a new call on the same interaction (the customer called back): the old one is over
            await self.close(old)
        claimed_at = self.sessions.clock.now().timestamp()
        previous = await self.sessions.claim_call_home(ix.id, self.node, recording_id, HOME_TTL)  # before any bridge
        recorder = (
            StereoRecorder(recording_path(self.data_dir, recording_id), rate) if queue.settings.recording else None
        )
        bridge = Bridge(
            ix.id,
            recorder,
            recording_id,
            on_agent_lost=self.agent_lost,
            reconnect_grace=self.reconnect_grace,
            media_addresses=self.media_addresses,
            on_dropped=self.peer_dropped,
            clock_counts=self.bridges.counts,
        )
        bridge.previous_home, bridge.claimed_at = previous, claimed_at
        self.bridges.add(bridge)
        return bridge

    async def close(self, bridge: Bridge, provider_id: str | None = None) -> None:
        """The caller is gone: the bridge ends, outside legs are hung up, the recording is attached."""
        if self.bridges.get(bridge.interaction_id) is not bridge or bridge.closed:
            return  # already ended (a hang-up and a dropped connection racing)
        recording_id = bridge.recording_id
        self.bridges.remove(bridge)
        await self._release_home(bridge.interaction_id)
        others = {leg.call_sid for lid, leg in bridge.legs.items() if lid != CALLER and isinstance(leg, TwilioLeg)}
        dialled = self.consult_calls.pop(bridge.interaction_id, None)
        if dialled is not None:
            others.add(dialled)  # a consult number still ringing: nobody is left for it to talk to
        duration = await bridge.close()
        for sid in sorted(others):
            await self._hang_up(bridge.interaction_id, sid)
        await self.on_line(bridge.interaction_id, LinePart.CALLER, joined=False)
        if duration is not None:
            await self.attach_part(bridge.interaction_id, recording_id, duration, provider_id)

    async def hand_off(self, bridge: Bridge) -> None:
        """The caller's stream went away under a live call: the call goes on elsewhere (channels/takeover.py)."""
        await hand_off(self, bridge)

    async def attach_part(
        self, interaction_id: str, recording_id: str, duration: float, provider_id: str | None = None
    ) -> None:
        """The recording made by one bridge (a whole call, or one process's part of it) is attached."""
        uri, at = f"/api/interactions/{interaction_id}/recordings/{recording_id}", self.sessions.clock.now()
        rec = Recording(id=recording_id, at=at, uri=uri, duration_seconds=round(duration, 3), provider_id=provider_id)
        try:
            await self.sessions.attach_recording(interaction_id, rec)
        except (DomainError, StoreUnavailable) as exc:
            log.warning("could not attach the recording of %s: %s", interaction_id, exc)

    async def discard(self, bridge: Bridge) -> None:
        """A bridge that never carried a call (its first offer failed): gone without a trace."""
        self.bridges.remove(bridge)
        await self._release_home(bridge.interaction_id)
        await bridge.close()
        if bridge.recorder is not None:
            bridge.recorder.path.unlink(missing_ok=True)

    async def web_call_ended(self, bridge: Bridge, reason: DisconnectReason = DisconnectReason.NETWORK_DROP) -> None:
        """A customer's browser call ended (they hung up, or its connection dropped):
        the conversation goes on as the chat it came from.

        The call leg's disconnect is in the feed and the event;
        the contact itself goes on, so the interaction keeps none.
        """
        await self.close(bridge)
        try:
            ix = await self.sessions.interaction(bridge.interaction_id)
            if ix.state is State.ACTIVE and (ix.type, ix.subtype) == (CommType.CALL, Subtype.WEBRTC):
                leg = disconnect.record(ix, DisconnectBy.CUSTOMER, reason, self.sessions.clock.now())
                await self.sessions.provider_status(
                    ix.id,
                    kind="call_status",
                    status=reason.value,
                    by="customer",
                    detail=f"{disconnect.describe(leg)} (web call); back to chat",
                    **disconnect.as_data(leg),
                )
                await self.sessions.switch_channel(None, ix.id, CommType.MESSAGING, Subtype.CHAT)
        except DomainError as exc:
            log.info("web call %s ended; the chat was not resumed: %s", bridge.interaction_id, exc)

    async def leg_gone(self, bridge: Bridge, leg: TwilioLeg) -> None:
        """An outside leg's stream stopped (the consulted number, or the one the call was handed to, hung up)."""
        leg_id = next((lid for lid, on in bridge.legs.items() if on is leg), None)
        if leg_id is None:
            return  # already taken off the call (a cancelled consult)
        await bridge.remove(leg_id)
        if leg_id == AGENT:
            caller = bridge.legs.get(CALLER)
            if isinstance(caller, TwilioLeg):
                await self._hang_up(bridge.interaction_id, caller.call_sid)  # the caller has nobody left to talk to
        await self.on_line(bridge.interaction_id, LINE_PARTS[leg.party.role], joined=False)

    async def peer_dropped(self, bridge: Bridge, leg_id: str, leg: PeerLeg) -> None:
        """A browser's connection dropped (the bridge has taken its leg off): the customer's ends their web call;
        a user's leaves the line (an agent's then has ``reconnect_grace`` to come back); a supervisor's stops
        monitoring."""
        if leg_id == CALLER:
            await self.web_call_ended(bridge)
            return
        if leg.user_id is None:
            return
        try:
            user = await self.sessions.user(leg.user_id)
            if leg.party.role is Part.MONITOR:
                await self.sessions.monitor_stopped(user, bridge.interaction_id)
            else:
                await self.sessions.audio_left(user, bridge.interaction_id, LINE_PARTS[leg.party.role])
        except DomainError as exc:
            log.info("%s's dropped audio on %s not recorded: %s", leg.user_id, bridge.interaction_id, exc)

    async def on_line(self, interaction_id: str, party: LinePart, *, joined: bool, user: User | None = None) -> None:
        """Records that a party's audio came on the line or left it; a refusal (the interaction moved on meanwhile:
        completed, or the consult over) is logged, never let to break the audio."""
        record = self.sessions.audio_joined if joined else self.sessions.audio_left
        try:
            await record(user, interaction_id, party)
        except DomainError as exc:
            what = "joining" if joined else "leaving"
            log.info("%s audio %s on %s not recorded: %s", party.value, what, interaction_id, exc)

    async def agent_lost(self, interaction_id: str, user_id: str | None) -> None:
        """The agent's audio dropped and did not come back: the call goes back to its queue for the next agent.

        Only from that agent: if the call has meanwhile moved to someone else, it stays with them.
        """
        reason = f"the agent's audio dropped and did not return within {self.reconnect_grace:g} s"
        try:
            event = await self.sessions.requeue(interaction_id, reason, from_user=user_id)
        except DomainError as exc:
            log.info("call %s not requeued: %s", interaction_id, exc)
            return
        await self.follow(event)

    # -- who joins -------------------------------------------------------------------

    def leg_for(self, user: User, ix: Interaction) -> tuple[str, Part]:
        """Which leg a user's browser is on this call: the place the domain gives them (``call_control.place_of``:
        handling it, being consulted, or monitoring it), as the bridge names it."""
        match call_control.place_of(ix, user):
            case LinePart.AGENT:
                return AGENT, Part.AGENT
            case LinePart.CONSULT:
                return CONSULT, Part.CONSULT
            case _:
                return monitor_leg(user.id), Part.MONITOR

    # -- following the interaction ---------------------------------------------------

    async def follow(self, event: Event) -> Interaction:
        """Moves this node's audio to match a committed event: the one way the call's commands reach the audio.

        Routes call it after their command; it may as well be fed every event, each any number of times: an event
        of an interaction version already followed (or older) does nothing.  Answers the interaction as it then is
        (a provider failure adds a note to its feed rather than raising: the command stands).
        """
        ix = _interaction(event)
        if ix.type is not CommType.CALL or not self._first_sight(ix):
            return ix
        bridge = self.bridges.get(ix.id)
        if bridge is None and await held_elsewhere(self.sessions, self.node, ix.id):
            return ix  # the process holding the audio follows this event from the log (channels/following.py)
        match event.type:
            case EventType.HELD | EventType.RESUMED | EventType.THREE_WAY_STARTED | EventType.THREE_WAY_ENDED:
                if bridge is not None:
                    bridge.follow(ix.call)
            case EventType.MONITOR_STARTED | EventType.MONITOR_CHANGED:
                user_id = event.data["user"]
                if bridge is not None and ix.call is not None and user_id in ix.call.monitors:
                    bridge.monitor(monitor_leg(user_id), ix.call.monitors[user_id])
            case EventType.CONSULT_STARTED:
                return await self._consult_started(ix, bridge)
            case EventType.TRANSFERRED if event.data.get("mode") == TransferMode.WARM:
                return await self._consult_completed(ix, bridge, _target(event))
            case EventType.TRANSFERRED:
                return await self._move(ix, bridge, _target(event))
            case EventType.CONSULT_CANCELLED | EventType.REQUEUED:  # requeued: the agent's consult ended with them
                await self._consult_over(ix.id, bridge)
            case EventType.ENDED if event.data.get("outcome") is not None:  # the agent's (a customer's closes itself)
                await self._ended(ix, bridge)
        return ix

    def _first_sight(self, ix: Interaction) -> bool:
        """Whether this version of the interaction is newer than any followed; remembers it (for the last
        ``FOLLOWED_KEPT`` interactions followed)."""
        if self.followed.get(ix.id, 0) >= ix.version:
            return False
        self.followed.pop(ix.id, None)
        self.followed[ix.id] = ix.version
        if len(self.followed) > FOLLOWED_KEPT:
            del self.followed[next(iter(self.followed))]  # the interaction followed longest ago
        return True

    async def _consult_started(self, ix: Interaction, bridge: Bridge | None) -> Interaction:
        """A warm transfer starts its consult: the caller holds; an outside number is dialled."""
        consult = ix.consult
        assert consult is not None  # the event that starts a consult carries it
        if bridge is not None:
            bridge.consult(True)
        if consult.target.kind is TargetKind.EXTERNAL:
            try:
                self.consult_calls[ix.id] = await self.voice.consult_out(ix, consult.target.id)
            except ProviderError as exc:
                # No consult is possible: cancel it (as whoever started it), so the agent has the caller back; say why.
                await self.follow(await self.sessions.cancel_consult(await self.sessions.user(consult.by), ix.id))
                return await self._note(ix.id, "call_status", "failed", f"Consult not dialled: {exc}", error=exc.code)
        return ix

    async def _consult_completed(self, ix: Interaction, bridge: Bridge | None, target: TransferTarget) -> Interaction:
        """The consulted party takes the caller over;
        if they never came on the line, the call moves as a cold transfer would."""
        dialled = self.consult_calls.pop(ix.id, None)
        if bridge is not None and bridge.has(CONSULT):
            await bridge.complete_consult()
            return ix
        if dialled is not None:
            await self._hang_up(ix.id, dialled)  # not answered yet: the caller is sent to the number directly instead
        return await self._move(ix, bridge, target)

    async def _consult_over(self, interaction_id: str, bridge: Bridge | None) -> None:
        """A consult ended without a transfer: the consulted party leaves (an outside number is hung up)."""
        sid = self.consult_calls.pop(interaction_id, None)
        leg = await bridge.end_consult() if bridge is not None else None
        if isinstance(leg, TwilioLeg):
            sid = leg.call_sid
        if sid is not None:
            await self._hang_up(interaction_id, sid)

    async def _ended(self, ix: Interaction, bridge: Bridge | None) -> None:
        """The agent ended the interaction: resolved hangs the call up;
        unresolved keeps the caller, on hold, for the next agent."""
        if bridge is None:
            return
        if ix.status is not Status.WRAP_UP:
            await bridge.hand_over()
            return
        caller = bridge.legs.get(CALLER)
        if isinstance(caller, TwilioLeg):
            await self._hang_up(
                ix.id, caller.call_sid
            )  # its stream then stops, which closes the bridge and attaches the recording
        else:
            await self.close(bridge)

    async def _move(self, ix: Interaction, bridge: Bridge | None, target: TransferTarget) -> Interaction:
        """A cold transfer of a live call: out to the number through Twilio, or on hold for the next agent."""
        if target.kind is TargetKind.EXTERNAL:
            try:
                await self.voice.transfer_out(ix, target.id)
            except ProviderError as exc:
                return await self._note(
                    ix.id, "call_status", "failed", f"Live call not transferred: {exc}", error=exc.code
                )
        elif bridge is not None:
            await bridge.hand_over()
        return ix

    # -- where calls run ---------------------------------------------------------------

    async def _release_home(self, interaction_id: str) -> None:
        try:
            await self.sessions.release_call_home(interaction_id, self.node)
        except StoreUnavailable as exc:  # expires by itself within HOME_TTL
            log.info("home of %s not released: %s", interaction_id, exc)

    # -- helpers ---------------------------------------------------------------------

    async def _hang_up(self, interaction_id: str, call_sid: str) -> None:
        try:
            await self.voice.hang_up(call_sid)
        except ProviderError as exc:
            await self._note(
                interaction_id, "call_status", "failed", f"Call {call_sid} not hung up: {exc}", error=exc.code
            )

    async def _note(self, interaction_id: str, kind: str, status: str, detail: str, **data: object) -> Interaction:
        event = await self.sessions.provider_status(interaction_id, kind=kind, status=status, detail=detail, **data)
        assert event.interaction is not None
        return event.interaction


def _interaction(event: Event) -> Interaction:
    assert event.interaction is not None  # a command's event always carries the interaction it changed
    return event.interaction


def _target(event: Event) -> TransferTarget:
    """Where a transfer's committed event (``interaction.transferred``) sends the interaction."""
    return TransferTarget.model_validate(event.data["target"])
