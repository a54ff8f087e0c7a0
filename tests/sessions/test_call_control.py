"""The live call's state as a specification: hold, three-way, monitoring and who is on the line, as pure commands."""

from __future__ import annotations

import pytest

from sessions import call_control, machine
from sessions.call_model import Call, LinePart, MonitorMode
from sessions.errors import IllegalTransition, PermissionDenied
from sessions.model import CommType, Interaction, Outcome, Subtype
from tests.sessions.scenarios import ALICE, BOB, EVE, SALES, SUP, at, claimed_by, consulting_bob


class TestHold:
    def test_the_handler_holds_and_resumes_with_typed_events_and_the_feed_text_people_know(self):
        ix = claimed_by(ALICE)
        assert ix.call is None, "no call state until a command sets it"
        held = call_control.hold(ix, actor=ALICE, on=True, now=at(20))
        assert (held.type, held.interaction.call.held, held.interaction.version) == (
            "interaction.held",
            True,
            ix.version + 1,
        )
        assert (held.interaction.activity[-1].kind, held.interaction.activity[-1].detail) == (
            "call_control",
            "Held by Alice",
        )
        back = call_control.hold(held.interaction, actor=ALICE, on=False, now=at(30))
        assert (back.type, back.interaction.call.held, back.interaction.activity[-1].data["status"]) == (
            "interaction.resumed",
            False,
            "resume",
        )
        assert ix.call is None and held.interaction.call.held, "commands never change what they are given"

    def test_only_the_handler_or_a_supervisor_holds(self):
        with pytest.raises(PermissionDenied):
            call_control.hold(claimed_by(ALICE), actor=BOB, on=True, now=at(20))
        with pytest.raises(PermissionDenied):
            call_control.hold(claimed_by(ALICE), actor=EVE, on=True, now=at(20))
        assert call_control.hold(claimed_by(ALICE), actor=SUP, on=True, now=at(20)).interaction.call.held

    def test_only_calls_hold(self):
        text = machine.switch_channel(
            claimed_by(ALICE), actor=None, type=CommType.MESSAGING, subtype=Subtype.TEXT, queue=SALES, now=at(10)
        )
        with pytest.raises(IllegalTransition, match="not a call"):
            call_control.hold(text.interaction, actor=ALICE, on=True, now=at(20))


class TestThreeWay:
    def test_during_a_consult_the_caller_joins_and_goes_back_to_holding(self):
        on = call_control.three_way(consulting_bob(), actor=ALICE, on=True, now=at(20))
        assert (on.type, on.interaction.call.three_way, on.interaction.activity[-1].detail) == (
            "interaction.three_way_started",
            True,
            "Alice joined the caller to the consult",
        )
        off = call_control.three_way(on.interaction, actor=ALICE, on=False, now=at(30))
        assert (off.type, off.interaction.call.three_way, off.interaction.activity[-1].data["status"]) == (
            "interaction.three_way_ended",
            False,
            "consult",
        )

    def test_needs_a_consult(self):
        with pytest.raises(IllegalTransition, match="no consult"):
            call_control.three_way(claimed_by(ALICE), actor=ALICE, on=True, now=at(20))


class TestMonitor:
    def test_a_supervisor_starts_then_changes_then_stops_monitoring(self):
        started = call_control.monitor(claimed_by(ALICE), actor=SUP, mode=MonitorMode.LISTEN, now=at(20))
        assert (started.type, started.interaction.call.monitors, started.interaction.activity[-1].detail) == (
            "interaction.monitor_started",
            {"sup": MonitorMode.LISTEN},
            "Sam is listening",
        )
        changed = call_control.monitor(started.interaction, actor=SUP, mode=MonitorMode.BARGE, now=at(30))
        assert (changed.type, changed.interaction.call.monitors, changed.data["mode"]) == (
            "interaction.monitor_changed",
            {"sup": MonitorMode.BARGE},
            "barge",
        )
        stopped = call_control.monitor_stopped(changed.interaction, actor=SUP, now=at(40))
        assert (stopped.type, stopped.interaction.call.monitors) == ("interaction.monitor_stopped", {})
        with pytest.raises(IllegalTransition, match="not monitoring"):
            call_control.monitor_stopped(stopped.interaction, actor=SUP, now=at(50))

    def test_agents_do_not_monitor_even_their_own_queues_calls(self):
        with pytest.raises(PermissionDenied, match="supervisors"):
            call_control.monitor(claimed_by(ALICE), actor=BOB, mode=MonitorMode.LISTEN, now=at(20))


class TestWhoIsOnTheLine:
    def test_parties_join_and_leave_and_a_new_caller_starts_a_new_call(self):
        ix = call_control.audio_joined(claimed_by(ALICE), party=LinePart.CALLER, actor=None, now=at(10)).interaction
        ix = call_control.audio_joined(ix, party=LinePart.AGENT, actor=ALICE, now=at(11)).interaction
        ix = call_control.hold(ix, actor=ALICE, on=True, now=at(12)).interaction
        ix = call_control.monitor(ix, actor=SUP, mode=MonitorMode.LISTEN, now=at(13)).interaction
        assert ix.call == Call(
            held=True, monitors={"sup": MonitorMode.LISTEN}, on_line=[LinePart.CALLER, LinePart.AGENT]
        )
        left = call_control.audio_left(ix, party=LinePart.AGENT, actor=ALICE, now=at(14))
        assert (left.type, left.interaction.call.on_line, left.interaction.call.held) == (
            "interaction.audio_left",
            [LinePart.CALLER],
            True,
        )
        again = call_control.audio_joined(left.interaction, party=LinePart.CALLER, actor=None, now=at(20))
        assert (again.type, again.interaction.call) == ("interaction.audio_joined", Call(on_line=[LinePart.CALLER]))

    def test_each_place_is_its_owners(self):
        with pytest.raises(PermissionDenied):
            call_control.audio_joined(claimed_by(ALICE), party=LinePart.AGENT, actor=BOB, now=at(10))
        with pytest.raises(PermissionDenied):
            call_control.audio_joined(claimed_by(ALICE), party=LinePart.CALLER, actor=ALICE, now=at(10))
        with pytest.raises(PermissionDenied):
            call_control.audio_joined(claimed_by(ALICE), party=LinePart.CONSULT, actor=BOB, now=at(10))
        assert call_control.audio_joined(
            consulting_bob(), party=LinePart.CONSULT, actor=BOB, now=at(20)
        ).interaction.call.on_line == [LinePart.CONSULT]

    def test_a_browser_is_placed_where_the_commands_then_accept_it(self):
        consult = consulting_bob()
        for ix, user, place in [
            (claimed_by(ALICE), ALICE, LinePart.AGENT),
            (consult, ALICE, LinePart.AGENT),
            (consult, BOB, LinePart.CONSULT),
        ]:
            assert call_control.place_of(ix, user) is place
            call_control.audio_joined(ix, party=place, actor=user, now=at(20))
        assert call_control.place_of(claimed_by(ALICE), SUP) is None, "a supervisor monitors"
        call_control.monitor(claimed_by(ALICE), actor=SUP, mode=MonitorMode.LISTEN, now=at(20))
        with pytest.raises(PermissionDenied, match="Bob is an agent"):
            call_control.place_of(claimed_by(ALICE), BOB)  # a member of the queue, but not on this call
        with pytest.raises(PermissionDenied, match="not a member"):
            call_control.place_of(claimed_by(ALICE), EVE)


def test_interactions_stored_before_the_call_state_existed_still_load():
    stored = claimed_by(ALICE).model_dump(mode="json")
    del stored["call"]
    assert Interaction.model_validate(stored).call is None


def test_hold_and_three_way_end_when_the_call_changes_hands():
    """A hold is the handler's decision: requeued for the next agent, the caller is no longer held by it."""
    held = call_control.hold(claimed_by(ALICE), actor=ALICE, on=True, now=at(20)).interaction
    assert held.call is not None and held.call.held
    requeued = machine.requeue(held, reason="agent gone", now=at(30)).interaction
    assert requeued.call is not None and not requeued.call.held and not requeued.call.three_way


def test_a_cancelled_consult_ends_the_three_way():
    joined = call_control.three_way(consulting_bob(), actor=ALICE, on=True, now=at(20)).interaction
    assert joined.call is not None and joined.call.three_way
    back = machine.cancel_consult(joined, actor=ALICE, now=at(30)).interaction
    assert back.call is not None and not back.call.three_way


class TestAudioMoved:
    def test_the_call_stays_as_it_was_and_the_feed_says_where_and_how_long(self):
        held = call_control.hold(claimed_by(ALICE), actor=ALICE, on=True, now=at(20)).interaction
        moved = call_control.audio_moved(
            held, from_node="gw-a", to_node="gw-b", reason="lost", gap_seconds=1.25, now=at(30)
        )
        assert moved.type == "interaction.audio_moved"
        assert moved.data == {"from_node": "gw-a", "to_node": "gw-b", "reason": "lost", "gap_seconds": 1.25}
        assert moved.interaction.call == held.call, "hold, monitors and who is on the line carry over"
        entry = moved.interaction.activity[-1]
        assert (entry.kind, entry.by, entry.data["status"]) == ("audio", "system", "moved")
        assert "another gateway process" in entry.detail and "1.2 s" in entry.detail

    def test_an_unknown_reason_or_a_call_no_longer_active_is_refused(self):
        with pytest.raises(IllegalTransition):
            call_control.audio_moved(
                claimed_by(ALICE), from_node=None, to_node="gw-b", reason="bored", gap_seconds=None, now=at(30)
            )
        ended = machine.end(claimed_by(ALICE), actor=ALICE, outcome=Outcome.RESOLVED, now=at(40)).interaction
        done = machine.complete(ended, actor=ALICE, now=at(50)).interaction
        with pytest.raises(IllegalTransition):
            call_control.audio_moved(done, from_node=None, to_node="gw-b", reason="lost", gap_seconds=None, now=at(60))
