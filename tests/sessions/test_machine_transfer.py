"""The state machine's transfers: cold to a queue, a user or an outside number, warm with a consult, a requeue.

Pure functions, no store, no clock; the scenario is tests/sessions/scenarios.py.
"""

from __future__ import annotations

import pytest

from sessions import machine
from sessions.errors import IllegalTransition, InvalidCommand, PermissionDenied
from sessions.events import event_for
from sessions.model import (
    CommType,
    Direction,
    Handoff,
    Outcome,
    Status,
    Subtype,
    TargetKind,
    TransferMode,
    TransferTarget,
)
from tests.sessions.scenarios import ALICE, BOB, SALES, SUP, SUPPORT, T0, at, claimed_by, consulting_bob, transfer


class TestTransfer:
    def test_cold_to_queue_reopens_it_there(self):
        change = transfer(claimed_by(BOB), SUPPORT, actor=BOB)
        ix = change.interaction
        assert (ix.queue_id, ix.status, ix.assigned_to) == ("support", Status.OPEN, None)
        assert ix.activity[-1].kind == "transferred"
        event = event_for(claimed_by(BOB), change, at(10))
        assert event.queues == ["support", "sales"], "both queues' watchers see it move"

    def test_cold_to_user_offers_it_to_them(self):
        ix = transfer(claimed_by(ALICE), BOB).interaction
        assert (ix.status, ix.offered_to, ix.assigned_to, ix.offer_expires_at) == (Status.PENDING, "bob", None, at(25))

    def test_the_receiver_learns_who_handed_it_over_and_why(self):
        change = transfer(claimed_by(ALICE), BOB, note="Wants a refund; already verified")
        assert change.interaction.handoff == Handoff(
            by="alice", at=at(10), from_queue="sales", mode=TransferMode.COLD, note="Wants a refund; already verified"
        )
        assert change.data["note"] == "Wants a refund; already verified", "integrators see the note with the event"

    def test_a_warm_transfer_hands_the_note_over_when_the_consult_completes(self):
        consulting = transfer(claimed_by(ALICE), BOB, mode=TransferMode.WARM, note="Angry about the delay").interaction
        assert consulting.handoff is None, "still Alice's call while she consults"
        done = machine.complete_consult(consulting, actor=ALICE, queue=SALES, now=at(20), target_user=BOB)
        assert done.interaction.handoff == Handoff(
            by="alice", at=at(20), from_queue="sales", mode=TransferMode.WARM, note="Angry about the delay"
        )

    def test_cold_to_external_number_wraps_up(self):
        ix = transfer(claimed_by(), "+442071234567").interaction
        assert ix.status is Status.WRAP_UP
        assert "+442071234567" in ix.activity[-1].detail

    def test_external_target_must_be_a_phone_number(self):
        with pytest.raises(InvalidCommand, match="E.164"):
            transfer(claimed_by(), "call bob")

    def test_only_the_handler_or_a_supervisor_transfers(self):
        with pytest.raises(PermissionDenied):
            transfer(claimed_by(ALICE), SUPPORT, actor=BOB)
        moved = transfer(claimed_by(ALICE), SUPPORT, actor=SUP)
        assert moved.interaction.queue_id == "support"

    def test_warm_transfer_consults_then_completes(self):
        consulting = consulting_bob()
        assert (consulting.status, consulting.assigned_to, consulting.consult.target) == (
            Status.CLAIMED,
            "alice",
            TransferTarget(kind=TargetKind.USER, id="bob"),
        )
        with pytest.raises(IllegalTransition, match="during a consult"):
            machine.end(consulting, actor=ALICE, outcome=Outcome.RESOLVED, now=at(11))
        done = machine.complete_consult(consulting, actor=ALICE, queue=SALES, now=at(20), target_user=BOB).interaction
        assert (done.consult, done.status, done.offered_to) == (None, Status.PENDING, "bob")
        assert done.activity[-1].data["mode"] == "warm"

    def test_warm_transfer_can_be_cancelled(self):
        consulting = transfer(claimed_by(ALICE), "+14155550199", mode=TransferMode.WARM).interaction
        back = machine.cancel_consult(consulting, actor=ALICE, now=at(15)).interaction
        assert (back.consult, back.status, back.assigned_to) == (None, Status.CLAIMED, "alice")

    def test_a_consulted_user_who_joined_takes_the_call_directly_on_completion(self):
        consulting = consulting_bob()
        with pytest.raises(PermissionDenied, match="not the one being consulted"):
            machine.join_consult(consulting, actor=SUP, now=at(11))
        joined = machine.join_consult(consulting, actor=BOB, now=at(12)).interaction
        assert joined.consult.joined_at == at(12) and joined.activity[-1].kind == "consult_joined"
        with pytest.raises(IllegalTransition, match="already joined"):
            machine.join_consult(joined, actor=BOB, now=at(13))
        done = machine.complete_consult(joined, actor=ALICE, queue=SALES, now=at(20), target_user=BOB).interaction
        assert (done.status, done.assigned_to, done.offered_to, done.claimed_at) == (
            Status.CLAIMED,
            "bob",
            None,
            at(20),
        )

    def test_requeue_takes_a_call_back_from_an_agent_who_is_gone(self):
        back = machine.requeue(claimed_by(ALICE), reason="the agent's audio dropped", now=at(30)).interaction
        assert (back.status, back.assigned_to, back.activity[-1].kind, back.activity[-1].data["user"]) == (
            Status.OPEN,
            None,
            "requeued",
            "alice",
        )
        with pytest.raises(IllegalTransition, match="only claimed ones"):
            machine.requeue(back, reason="again", now=at(31))
        with pytest.raises(IllegalTransition, match="no longer with alice"):
            machine.requeue(claimed_by(BOB), reason="alice's audio dropped", now=at(32), from_user="alice")

    def test_warm_transfer_is_for_calls_only(self):
        chat = machine.create(
            id="c", queue=SALES, direction=Direction.INBOUND, type=CommType.MESSAGING, subtype=Subtype.CHAT, now=T0
        ).interaction
        with pytest.raises(IllegalTransition, match="Warm transfer is for calls"):
            consulting_bob(claimed_by(ALICE, chat))
