"""A phone call's media stream that comes back after its stream was lost: the call is taken over, not started anew.

Twilio has one caller stream per call.  When the process holding it goes away (killed, or stopping: uvicorn closes
every websocket at SIGTERM) Twilio asks the caller's ``<Connect action>`` what next; whichever process answers gives
it a new ``<Connect><Stream>`` marked ``resumed`` (channels/voice.py), and the process that stream lands on takes the
call over here: the interaction's ``Call`` is kept (who is on the line, held, three-way, monitors), the caller holds
while the agent's browser connects again (within the reconnect grace, else the call is requeued, as when an agent
drops), and the old home is asked to let go.  The move is committed as ``interaction.audio_moved``, which tells the
browsers on the call to connect again; a consult with an outside number cannot survive the move and is cancelled.
If the old home did not answer, its recording part is rescued from the shared data directory once that process is
gone (a slow process is still writing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sessions.call_homes import CallHome
from sessions.call_model import LinePart
from sessions.errors import DomainError, StoreUnavailable
from sessions.model import Interaction, TargetKind

from .voice_bridge import Bridge
from .voicemail import recording_path

if TYPE_CHECKING:
    from .live_calls import LiveCalls

log = logging.getLogger("channels.takeover")

#: Asks another process (by node id) to let a call (by interaction id) go: True when it answered (it handed the call
#: off, or held none), False when it could not be reached or refused: its recording part is then rescued once its
#: registration is gone (it may be alive but slow).
ReleaseElsewhere = Callable[[str, str], Awaitable[bool]]
#: Seconds a process's registration and its calls' homes last unless renewed (see ``sessions/call_homes.py``).
HOME_TTL = 3.0
#: Seconds between renewals: well inside HOME_TTL, so one late renewal does not lose a home.
HOME_REFRESH = 1.0
#: Seconds a taker waits for a call's old home to be gone (its registration expired or forgotten) before rescuing
#: the recording part it left: a killed process's registration expires within HOME_TTL.
GONE_WAIT = HOME_TTL + 1.0
#: Seconds between looks at the old home's registration meanwhile.
GONE_POLL = 0.5
#: The header of a WAV as Python's wave module writes PCM: RIFF (12 bytes), fmt (24), data's header (8).
WAV_HEADER = 44


async def unreachable(node: str, interaction_id: str) -> bool:
    """The release of a gateway without siblings to ask (a single process): nobody answers."""
    return False


async def keep_homes(live: LiveCalls) -> None:
    """Renews, every HOME_REFRESH seconds, this process's registration (its internal URL, for forwarded legs)
    and the homes of the calls it holds; forgets the registration when stopped.  A lifespan task."""
    try:
        while True:
            try:
                await live.sessions.register_node(live.node, live.internal_url, HOME_TTL)
                parts = {ix_id: (b.recording_id, b.claimed_at) for ix_id, b in live.bridges.live.items()}
                await live.sessions.refresh_call_homes(live.node, parts, HOME_TTL)
            except StoreUnavailable as exc:  # the next round tries again
                log.warning("call homes not renewed: %s", exc)
            await asyncio.sleep(HOME_REFRESH)
    finally:
        with contextlib.suppress(StoreUnavailable, asyncio.CancelledError):
            await asyncio.shield(live.sessions.forget_node(live.node))


async def hand_off(live: LiveCalls, bridge: Bridge) -> None:
    """The caller's stream went away under a live call (this process stopping, or the socket dropped): the call
    goes on wherever Twilio's next stream lands.  The bridge ends here without hanging up anyone or recording anyone
    leaving the line; the recording made here is attached as one part of the call; the call's home is left marked
    as handed off, for the taker to say where the call came from."""
    if live.bridges.get(bridge.interaction_id) is not bridge or bridge.closed:
        return
    live.bridges.remove(bridge)
    live.consult_calls.pop(bridge.interaction_id, None)
    duration = await bridge.close()
    try:
        await live.sessions.hand_off_call_home(bridge.interaction_id, live.node)
    except StoreUnavailable as exc:  # expires by itself within HOME_TTL; the taker then reports it lost
        log.info("home of %s not handed off: %s", bridge.interaction_id, exc)
    if duration is not None:
        await live.attach_part(bridge.interaction_id, bridge.recording_id, duration)


def take_over(bridge: Bridge, ix: Interaction) -> None:
    """The new bridge of a call taken over puts the audio as the interaction says: a held caller stays held, a
    consult's caller holds (or is joined three-way); an agent whose audio was on the line is expected back
    (the caller holds meanwhile, and the reconnect grace starts now)."""
    bridge.follow(ix.call)
    if ix.consult is not None:
        bridge.consulting(True)
    if ix.call is not None and LinePart.AGENT in ix.call.on_line:
        bridge.expect_agent(ix.assigned_to)


async def settle(live: LiveCalls, bridge: Bridge, ix_id: str, *, resumed: bool, started: float) -> None:
    """In the background of a caller's new stream: the old home is asked to let go; for a resumed call the move is
    committed (``started``: when the new stream began, the end of the caller's gap) and a consult with an outside
    number, stranded by the move, is cancelled; last, when the old home did not let go, its recording part is
    rescued once that process is gone (it may be slow, not dead: then it keeps writing the part, and finishes it)."""
    previous = bridge.previous_home
    reason = "handed_over"
    answered = True
    if previous is not None and not previous.handed_off:
        if previous.node == live.node:
            answered = False  # an earlier run of this node id (restarted): nothing of it is left to ask
        else:
            answered = await live.release_elsewhere(previous.node, ix_id)
        if not answered:
            reason = "lost"
    if resumed:
        gap = round(started - previous.lost_at, 3) if previous is not None and previous.lost_at is not None else None
        try:
            await live.sessions.audio_moved(
                ix_id,
                from_node=previous.node if previous is not None else None,
                to_node=live.node,
                reason=reason,
                gap_seconds=gap,
            )
        except (DomainError, StoreUnavailable) as exc:
            log.warning("the move of %s's audio was not recorded: %s", ix_id, exc)
        await end_stranded_consult(live, ix_id)
    if previous is not None and not answered:
        if previous.node == live.node or await gone(live, previous.node):
            await rescue(live, ix_id, previous)
        else:
            log.warning(
                "call %s: its old home %s did not let it go but is still registered; its recording part %s is left "
                "to it",
                ix_id,
                previous.node,
                previous.recording_id,
            )


async def gone(live: LiveCalls, node: str) -> bool:
    """Whether ``node`` stops being registered within GONE_WAIT seconds (a killed process's entry expires within
    HOME_TTL); a store that does not answer counts as not gone (nothing is taken from a process that may live)."""
    deadline = asyncio.get_running_loop().time() + GONE_WAIT
    while True:
        try:
            if await live.sessions.node_url(node) is None:
                return True
        except StoreUnavailable as exc:
            log.info("registration of %s not read: %s", node, exc)
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(GONE_POLL)


async def end_stranded_consult(live: LiveCalls, ix_id: str) -> None:
    """A warm transfer to an outside number in progress when the call moved cannot go on: the consulted number's
    stream died with the old home, and its call has no ``<Connect action>`` to come back by; the caller would hold
    for it for ever.  The consult is cancelled as whoever started it (the agent has the caller back), and the feed
    says why.  A consult with a user stays: that user's browser connects again, like the agent's."""
    try:
        ix = await live.sessions.interaction(ix_id)
        consult = ix.consult
        if consult is None or consult.target.kind is not TargetKind.EXTERNAL:
            return
        await live.follow(await live.sessions.cancel_consult(await live.sessions.user(consult.by), ix_id))
        await live._note(
            ix_id,
            "consult_status",
            "lost",
            f"Consult with {consult.target.id} ended: its audio was lost when the call moved to another process",
        )
    except (DomainError, StoreUnavailable) as exc:
        log.warning("the consult of %s, stranded by the move, was not cancelled: %s", ix_id, exc)


def start_settling(live: LiveCalls, bridge: Bridge, ix_id: str, *, resumed: bool) -> None:
    """Runs :func:`settle` beside the call (asking a dead process can take its timeout: the caller does not wait)."""
    started = live.sessions.clock.now().timestamp()
    task = asyncio.ensure_future(settle(live, bridge, ix_id, resumed=resumed, started=started))
    live.settling.add(task)
    task.add_done_callback(live.settling.discard)


async def rescue(live: LiveCalls, ix_id: str, previous: CallHome) -> None:
    """The part a dead process was writing becomes a recording of the interaction."""
    if previous.recording_id is None:
        return
    try:
        path = recording_path(live.data_dir, previous.recording_id)
    except ValueError:
        return
    duration = await asyncio.to_thread(finish_part, path)
    if duration is not None:
        await live.attach_part(ix_id, previous.recording_id, duration)


def finish_part(path: Path) -> float | None:
    """Makes whole the ``.part`` of ``path`` that a killed writer left and moves it into place; its duration, or None
    when there is no part (its writer finished it, or never wrote a frame).

    The wave module patches the header after every write, so a killed writer's file is normally readable as is;
    the header is checked against the file's size anyway (a write cut short between data and header) and set
    from the size when they differ, whole frames only.
    """
    part = path.with_suffix(".part")
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return None
    if size <= WAV_HEADER:
        part.unlink(missing_ok=True)
        return None
    with open(part, "r+b") as f:
        head = f.read(WAV_HEADER)
        if head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt " or head[36:40] != b"data":
            log.warning("recording part %s is not a WAV this gateway wrote: left as it is", part.name)
            return None
        _channels, _rate, _byte_rate, block, _bits = struct.unpack("<HIIHH", head[22:36])
        data = (size - WAV_HEADER) // block * block
        if struct.unpack("<I", head[40:44])[0] != data or size != WAV_HEADER + data:
            f.seek(4)
            f.write(struct.pack("<I", 36 + data))
            f.seek(40)
            f.write(struct.pack("<I", data))
            f.truncate(WAV_HEADER + data)
        f.flush()
        os.fsync(f.fileno())
    part.replace(path)
    with contextlib.closing(wave.open(str(path), "rb")) as w:
        return w.getnframes() / w.getframerate()
