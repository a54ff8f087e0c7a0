"""LiveCalls.follow: the live call's one entry point, fed committed events (each possibly more than once)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.call_legs import PeerLeg
from channels.live_calls import LiveCalls
from channels.mixer import Part, Party
from channels.voice_bridge import AGENT, CALLER, Bridge, monitor_leg
from sessions.call_model import LinePart, MonitorMode
from sessions.model import CommType, Direction, Interaction, Outcome, Subtype, TargetKind, TransferMode, TransferTarget
from tests.conftest import World

OUTSIDE = "+442071234567"


class FakeVoice:
    """The provider side effects LiveCalls asks for, counted."""

    def __init__(self) -> None:
        self.consults: list[str] = []
        self.hung_up: list[str] = []
        self.transferred: list[str] = []

    async def consult_out(self, ix: Interaction, number: str) -> str:
        self.consults.append(number)
        return f"CA-consult-{len(self.consults)}"

    async def transfer_out(self, ix: Interaction, number: str) -> None:
        self.transferred.append(number)

    async def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)


async def _frames(text: str) -> None:
    """The caller's socket: what the bridge sends it is not looked at here."""


@pytest.fixture
async def live(world: World, tmp_path) -> AsyncIterator[LiveCalls]:
    calls = LiveCalls(world.sessions, FakeVoice(), data_dir=tmp_path, reconnect_grace=20.0)  # type: ignore[arg-type]
    yield calls
    await calls.bridges.close_all()


async def claimed_call(world: World) -> str:
    event = await world.sessions.create(
        None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE
    )
    assert event.interaction is not None
    await world.sessions.claim(world.alice, event.interaction.id)
    return event.interaction.id


async def bridged(live: LiveCalls, ix_id: str) -> Bridge:
    bridge = await live.open(await live.sessions.interaction(ix_id), "MZ1", 8000)
    bridge.add_twilio(CALLER, Part.CALLER, "CA1", "MZ1", _frames)
    return bridge


def browser(part: Part, user_id: str) -> PeerLeg:
    """A browser's leg as the bridge hands it over once its connection dropped (already closed: no connection left)."""
    return PeerLeg(Party(part), pc=None, user_id=user_id)  # type: ignore[arg-type]


async def test_an_event_followed_twice_dials_and_hangs_up_once(world: World, live: LiveCalls):
    ix_id = await claimed_call(world)
    voice = live.voice
    assert isinstance(voice, FakeVoice)
    outside = TransferTarget(kind=TargetKind.EXTERNAL, id=OUTSIDE)
    started = await world.sessions.transfer(world.alice, ix_id, outside, TransferMode.WARM)
    for _ in range(2):
        assert (await live.follow(started)).consult is not None
    assert voice.consults == [OUTSIDE]

    cancelled = await world.sessions.cancel_consult(world.alice, ix_id)
    for _ in range(2):
        await live.follow(cancelled)
    assert voice.hung_up == ["CA-consult-1"]
    await live.follow(started)  # older than the cancel: the consult is over, nothing is dialled again
    assert (voice.consults, voice.hung_up) == ([OUTSIDE], ["CA-consult-1"])


async def test_the_bridge_holds_as_the_newest_event_followed_says(world: World, live: LiveCalls):
    ix_id = await claimed_call(world)
    bridge = await bridged(live, ix_id)
    held = await world.sessions.hold(world.alice, ix_id, True)
    resumed = await world.sessions.hold(world.alice, ix_id, False)
    await live.follow(resumed)
    await live.follow(held)  # arrives late (a second feed): the caller stays off hold
    assert bridge.held is False
    held_again = await world.sessions.hold(world.alice, ix_id, True)
    for _ in range(2):
        await live.follow(held_again)
    assert bridge.held is True


async def test_ending_resolved_hangs_the_caller_up_once(world: World, live: LiveCalls):
    ix_id = await claimed_call(world)
    await bridged(live, ix_id)
    ended = await world.sessions.end(world.alice, ix_id, Outcome.RESOLVED)
    for _ in range(2):
        assert (await live.follow(ended)).status == "wrap_up"
    assert live.voice.hung_up == ["CA1"]  # type: ignore[attr-defined]


async def test_a_browser_dropping_takes_its_user_off_the_line(world: World, live: LiveCalls):
    """What the bridge reports when a browser's connection fails (its leg already off the call)."""
    ix_id = await claimed_call(world)
    bridge = await bridged(live, ix_id)
    await live.on_line(ix_id, LinePart.CALLER, joined=True)
    await world.sessions.audio_joined(world.alice, ix_id, LinePart.AGENT)
    await world.sessions.monitor(world.supervisor, ix_id, MonitorMode.LISTEN)

    await live.peer_dropped(bridge, AGENT, browser(Part.AGENT, world.alice.id))
    await live.peer_dropped(bridge, monitor_leg(world.supervisor.id), browser(Part.MONITOR, world.supervisor.id))
    call = (await world.sessions.interaction(ix_id)).call
    assert call is not None and (call.on_line, call.monitors) == ([LinePart.CALLER], {})
    await live.peer_dropped(bridge, AGENT, browser(Part.AGENT, world.bob.id))
    after = (await world.sessions.interaction(ix_id)).call
    assert after == call, "bob's leaving a call he is not on is refused, and only logged"
