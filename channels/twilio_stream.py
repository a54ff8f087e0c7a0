"""One Twilio media stream's part in a live call: the events of channels/media_streams.py, acted on.

The stream's start names the call and the interaction; a caller's stream opens the call's bridge, a
consulted number's joins the bridge already there.  Its audio goes to its leg; its end closes the
bridge (the caller gone: Twilio sent ``stop``) or takes the leg off it (an outside party gone); both are recorded
as who is on the line (channels/live_calls.py).  A consulted number's stream that lands on a process other than the
call's home is answered :class:`Relay`: the socket is to be passed on to the home (gateway/media_relay.py), which this
module never talks to itself.  A caller's stream that closes without ``stop`` hands the call off,
and one that starts ``resumed`` takes it over (channels/takeover.py).  The socket itself stays in
gateway/ws_media.py, which feeds received frames in and closes the socket when told to.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sessions.call_model import LinePart
from sessions.errors import StoreUnavailable

from .audio import TWILIO_RATE
from .call_legs import TwilioLeg
from .live_calls import LiveCalls
from .media_streams import Malformed, Media, Refused, Start, Stop, StreamEvent
from .mixer import Part
from .takeover import start_settling, take_over
from .threads import Threads
from .voice_bridge import CALLER, CONSULT, Bridge
from .voicemail import SAFE_ID

log = logging.getLogger("channels.twilio_stream")

CLOSE_NORMAL = 1000
#: The stream names a call this gateway does not know as that interaction's.
CLOSE_UNKNOWN_CALL = 4403
#: A consulted number's stream for a call with no bridge on this process.
CLOSE_NO_LIVE_CALL = 4409


@dataclass(frozen=True)
class Relay:
    """A consulted number's stream belongs to the call's home, another registered process: the socket's frames (those
    received so far, then every one both ways) are to be piped to ``url``, that process's internal URL, on a socket
    bound to ``interaction``'s consult leg (the home accepts no other stream on it)."""

    node: str
    url: str
    interaction: str


#: What the socket does after a received event: nothing, close with (code, reason), or relay to the call's home.
Outcome = tuple[int, str] | Relay | None


class TwilioStream:
    """A media socket's call, leg and bridge; ``send`` writes one text frame to the socket."""

    def __init__(
        self,
        live: LiveCalls,
        threads: Threads,
        send: Callable[[str], Awaitable[None]],
        *,
        relayable: bool = False,
        bound_to: tuple[str, str | None] | None = None,
    ) -> None:
        """``relayable``: a consult stream for a call homed elsewhere may be relayed there; False for a socket that
        is itself a relay (never relayed twice) and where no internal secret lets processes talk.  ``bound_to``: the
        (interaction, leg) a sibling's relayed socket was signed for; its stream must start as exactly that, a
        consult leg, or it is refused like an unknown call (a hop signature is not a licence to start any stream,
        least of all a caller's ``resumed`` one, which would take the call over)."""
        self.live, self.threads, self.send, self.relayable = live, threads, send, relayable
        self.bound_to = bound_to
        self.bridge: Bridge | None = None
        self.leg: TwilioLeg | None = (
            None  # held as an object: a consult leg becomes the agent's when the transfer completes
        )
        self.call_sid = ""
        #: Twilio said the stream is over (its ``stop``: the call ended or left the stream).  A caller's stream whose
        #: socket closes without it went away under a live call: the call is handed off, not ended.
        self.stopped = False

    async def handle(self, event: StreamEvent) -> Outcome:
        """Acts on one received event; answers the (code, reason) to close the socket with when the stream is over,
        or :class:`Relay` when it belongs to another process."""
        if isinstance(event, Media):
            if self.leg is not None:
                self.leg.receive(event.payload)
        elif isinstance(event, Start):
            return await self._start(event)
        elif isinstance(event, Stop):
            self.stopped = True
            return CLOSE_NORMAL, ""
        elif isinstance(event, Refused):
            return event.code, event.reason
        elif isinstance(event, Malformed):
            log.warning("malformed media frame skipped: %s", event.reason)
        return None

    async def _start(self, start: Start) -> Outcome:
        if self.bridge is not None:
            return None  # a repeated start: the stream is already on its call
        ix_id, call_sid, stream_sid = start.interaction, start.call_sid, start.stream_sid
        if self.bound_to is not None and (start.leg != CONSULT or (ix_id, start.leg) != self.bound_to):
            log.warning("relayed stream bound to %s started as %s / %s: refused", self.bound_to, ix_id, start.leg)
            return CLOSE_UNKNOWN_CALL, "unknown call"
        if await self.threads.interaction_of_call(call_sid) != ix_id or not SAFE_ID.match(stream_sid):
            log.warning("media stream for unknown call %s / interaction %s refused", call_sid, ix_id)
            return CLOSE_UNKNOWN_CALL, "unknown call"
        if start.leg == CONSULT:
            bridge = self.live.get(ix_id)
            if bridge is None and (relay := await self._home_elsewhere(ix_id)) is not None:
                log.info("consult stream %s for %s relayed to its home %s", stream_sid, ix_id, relay.node)
                return relay
            if bridge is None:
                log.warning("consult stream %s for %s, which has no live call here, refused", stream_sid, ix_id)
                return CLOSE_NO_LIVE_CALL, "no live call"
            self._joined(bridge, bridge.add_twilio(CONSULT, Part.CONSULT, call_sid, stream_sid, self.send), call_sid)
            await self.live.on_line(ix_id, LinePart.CONSULT, joined=True)  # the consulted number answered
        else:
            await self._caller(start)
        return None

    async def _home_elsewhere(self, ix_id: str) -> Relay | None:
        """The call's home when it is another registered process and this socket may be relayed; None otherwise (no
        home, its registration expired, the store unreachable: the stream is refused as when nobody holds the call)."""
        if not self.relayable:
            return None
        try:
            home = await self.live.sessions.call_home(ix_id)
            if home is None or home.node == self.live.node:
                return None
            url = await self.live.sessions.node_url(home.node)
        except StoreUnavailable:
            log.warning("consult stream for %s: the store is unreachable, its home unknown", ix_id)
            return None
        return Relay(home.node, url, ix_id) if url is not None else None

    async def _caller(self, start: Start) -> None:
        """The caller's stream opens the call's bridge here.  A stream marked ``resumed`` (Twilio's next stream after
        the last one was lost: channels/voice.py) takes the call over: the interaction's call is kept as it is, not
        joined afresh (which would reset it: holds, monitors), and the move is recorded (channels/takeover.py)."""
        ix_id, call_sid, stream_sid = start.interaction, start.call_sid, start.stream_sid
        resumed = start.params.get("resumed") == "1"
        old = self.live.get(ix_id)
        if resumed and old is not None:
            await self.live.hand_off(old)  # its old stream, here too, has not been noticed gone yet
        ix = await self.live.sessions.interaction(ix_id)
        bridge = await self.live.open(ix, stream_sid, TWILIO_RATE)
        self._joined(bridge, bridge.add_twilio(CALLER, Part.CALLER, call_sid, stream_sid, self.send), call_sid)
        if resumed:
            take_over(bridge, ix)
        else:
            await self.live.on_line(ix_id, LinePart.CALLER, joined=True)
        if resumed or bridge.previous_home is not None:
            start_settling(self.live, bridge, ix_id, resumed=resumed)

    def _joined(self, bridge: Bridge, leg: TwilioLeg, call_sid: str) -> None:
        """Kept before anything else can fail, so the socket's end always takes the leg off again."""
        self.bridge, self.leg, self.call_sid = bridge, leg, call_sid

    async def finish(self) -> None:
        """The socket is gone: the caller's end closes the call (after Twilio's ``stop``) or hands it off (without:
        the socket dropped, or this process is stopping); an outside party's takes their leg off it."""
        if self.bridge is None or self.leg is None:
            return
        if self.leg.party.role is Part.CALLER and not self.stopped:
            await self.live.hand_off(self.bridge)  # Twilio asks the <Connect action> and opens a new stream
        elif self.leg.party.role is Part.CALLER:
            await self.live.close(self.bridge, self.call_sid)
        else:
            await self.live.leg_gone(self.bridge, self.leg)
