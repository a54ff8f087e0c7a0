"""The state machine as a specification: pure functions, no store, no clock."""

from __future__ import annotations

import pytest

from sessions import machine
from sessions.errors import FieldNotEditable, IllegalTransition, InvalidCommand, PermissionDenied
from sessions.model import (
    CommType,
    Direction,
    Interaction,
    Message,
    Note,
    Outcome,
    Role,
    State,
    Status,
    Subtype,
    User,
)
from sessions.queues import QueueSettings
from tests.sessions.scenarios import (
    ALICE,
    BOB,
    EVE,
    SALES,
    SUPPORT,
    T0,
    at,
    claimed_by,
    completed,
    consulting_bob,
    inbound_call,
    transfer,
)


class TestCreate:
    def test_inbound_waits_open_in_its_queue(self):
        ix = inbound_call()
        assert (ix.state, ix.status, ix.queue_id, ix.version) == (State.ACTIVE, Status.OPEN, "sales", 1)
        assert ix.assigned_to is None
        assert [a.kind for a in ix.activity] == ["created"]

    def test_outbound_by_an_agent_is_theirs_from_the_start(self):
        ix = machine.create(
            id="o1",
            queue=SALES,
            direction=Direction.OUTBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.TEXT,
            now=T0,
            actor=ALICE,
        ).interaction
        assert (ix.status, ix.assigned_to, ix.claimed_at) == (Status.CLAIMED, "alice", T0)

    @pytest.mark.parametrize(
        ("type", "subtype"),
        [(CommType.CALL, Subtype.TEXT), (CommType.MESSAGING, Subtype.PHONE), (CommType.EMAIL, Subtype.EMAIL)],
    )
    def test_refuses_subtypes_of_another_type_and_the_reserved_email(self, type, subtype):
        with pytest.raises(InvalidCommand):
            machine.create(id="x", queue=SALES, direction=Direction.INBOUND, type=type, subtype=subtype, now=T0)

    def test_agent_cannot_create_in_a_queue_it_is_not_in(self):
        with pytest.raises(PermissionDenied, match="not a member of queue support"):
            machine.create(
                id="x",
                queue=SUPPORT,
                direction=Direction.OUTBOUND,
                type=CommType.CALL,
                subtype=Subtype.PHONE,
                now=T0,
                actor=ALICE,
            )


class TestOfferAndClaim:
    def test_offer_rings_one_user_for_the_queue_ring_time(self):
        ix = machine.offer(inbound_call(), to=ALICE, queue=SALES, now=at(1)).interaction
        assert (ix.status, ix.offered_to, ix.offer_expires_at) == (Status.PENDING, "alice", at(16))

    def test_unanswered_offer_falls_back_to_open_only_after_ring_time(self):
        ix = machine.offer(inbound_call(), to=ALICE, queue=SALES, now=at(1)).interaction
        with pytest.raises(IllegalTransition, match="still ringing"):
            machine.expire_offer(ix, now=at(15))
        back = machine.expire_offer(ix, now=at(16)).interaction
        assert (back.status, back.offered_to) == (Status.OPEN, None)

    def test_declined_offer_goes_back_to_the_queue(self):
        ix = machine.offer(inbound_call(), to=ALICE, queue=SALES, now=at(1)).interaction
        with pytest.raises(PermissionDenied):
            machine.decline(ix, actor=BOB, now=at(2))
        assert machine.decline(ix, actor=ALICE, now=at(2)).interaction.status is Status.OPEN

    def test_offered_user_accepts_by_claiming_others_cannot(self):
        ix = machine.offer(inbound_call(), to=ALICE, queue=SALES, now=at(1)).interaction
        with pytest.raises(IllegalTransition, match="offered to another user"):
            machine.claim(ix, actor=BOB, now=at(2))
        assert machine.claim(ix, actor=ALICE, now=at(2)).interaction.assigned_to == "alice"

    def test_claim_sets_assignee_and_first_answer_time(self):
        ix = claimed_by(ALICE)
        assert (ix.status, ix.assigned_to, ix.claimed_at, ix.answered_at) == (Status.CLAIMED, "alice", at(5), at(5))

    def test_claiming_a_claimed_interaction_names_the_holder(self):
        with pytest.raises(IllegalTransition, match="already claimed by alice"):
            machine.claim(claimed_by(ALICE), actor=BOB, now=at(6))

    def test_claiming_a_completed_interaction_is_refused(self):
        with pytest.raises(IllegalTransition, match="it is completed"):
            machine.claim(completed(), actor=BOB, now=at(100))

    def test_only_members_of_the_queue_claim(self):
        with pytest.raises(PermissionDenied):
            machine.claim(inbound_call(), actor=EVE, now=at(1))

    def test_commands_never_mutate_their_input(self):
        ix = inbound_call()
        snapshot = ix.model_dump()
        machine.claim(ix, actor=ALICE, now=at(1))
        assert ix.model_dump() == snapshot


class TestConversation:
    def test_switch_channel_keeps_id_and_history(self):
        ix = claimed_by()
        texted = machine.switch_channel(
            ix, actor=ALICE, type=CommType.MESSAGING, subtype=Subtype.TEXT, queue=SALES, now=at(20)
        ).interaction
        back = machine.switch_channel(
            texted, actor=ALICE, type=CommType.CALL, subtype=Subtype.PHONE, queue=SALES, now=at(30)
        ).interaction
        assert back.id == ix.id
        assert [(c.from_subtype, c.to_subtype) for c in back.channel_history] == [
            (Subtype.PHONE, Subtype.TEXT),
            (Subtype.TEXT, Subtype.PHONE),
        ]

    @pytest.mark.parametrize(
        ("type", "subtype", "error"),
        [
            (CommType.CALL, Subtype.PHONE, IllegalTransition),
            (CommType.VOICEMAIL, Subtype.VOICEMAIL, InvalidCommand),
            (CommType.MESSAGING, Subtype.PHONE, InvalidCommand),
        ],
    )
    def test_switch_refuses_same_channel_and_impossible_ones(self, type, subtype, error):
        with pytest.raises(error):
            machine.switch_channel(claimed_by(), actor=ALICE, type=type, subtype=subtype, queue=SALES, now=at(20))

    def test_messages_and_notes_accumulate(self):
        ix = machine.switch_channel(
            claimed_by(), actor=ALICE, type=CommType.MESSAGING, subtype=Subtype.TEXT, queue=SALES, now=at(5)
        ).interaction
        msg = Message(id="m1", at=at(6), direction=Direction.OUTBOUND, author="alice", body="Hi", channel=Subtype.TEXT)
        ix = machine.add_message(ix, message=msg, actor=ALICE, now=at(6)).interaction
        with pytest.raises(IllegalTransition):
            machine.add_message(ix, message=msg, actor=ALICE, now=at(6))
        ix = machine.update_message_status(
            ix, message_id="m1", status="delivered", error_code=None, now=at(7)
        ).interaction
        ix = machine.add_note(
            ix,
            actor=ALICE,
            note=Note(id="n1", at=at(8), author="alice", body="wants a refund"),
            disposition="refund",
            now=at(8),
        ).interaction
        assert (ix.messages[0].status, ix.notes[0].body, ix.disposition) == ("delivered", "wants a refund", "refund")

    def test_agents_message_only_on_messaging_channels(self):
        msg = Message(id="m1", at=at(6), direction=Direction.OUTBOUND, author="alice", body="Hi", channel=Subtype.PHONE)
        with pytest.raises(IllegalTransition, match="switch it to text or chat"):
            machine.add_message(claimed_by(), message=msg, actor=ALICE, now=at(6))


class TestEndAndComplete:
    def test_resolved_goes_to_wrap_up_then_completion_records_who_and_when(self):
        ix = machine.end(claimed_by(), actor=ALICE, outcome=Outcome.RESOLVED, now=at(60)).interaction
        assert (ix.status, ix.outcome, ix.wrap_up_at) == (Status.WRAP_UP, Outcome.RESOLVED, at(60))
        done = machine.complete(ix, actor=ALICE, now=at(70)).interaction
        assert (done.state, done.status, done.completed_by, done.completed_at, done.auto_completed) == (
            State.COMPLETED,
            Status.COMPLETED,
            "alice",
            at(70),
            False,
        )

    def test_unresolved_goes_back_to_the_queue_for_someone_else(self):
        ix = machine.end(claimed_by(ALICE), actor=ALICE, outcome=Outcome.UNRESOLVED, now=at(60)).interaction
        assert (ix.state, ix.status, ix.assigned_to, ix.outcome) == (
            State.ACTIVE,
            Status.OPEN,
            None,
            Outcome.UNRESOLVED,
        )
        assert "unresolved" in ix.activity[-1].detail
        assert machine.claim(ix, actor=BOB, now=at(61)).interaction.assigned_to == "bob"

    def test_auto_complete_only_after_the_wrap_up_limit(self):
        ix = machine.end(claimed_by(), actor=ALICE, outcome=Outcome.RESOLVED, now=at(60)).interaction
        assert machine.wrap_up_deadline(ix, SALES) == at(120)
        with pytest.raises(IllegalTransition, match="within its wrap-up time"):
            machine.auto_complete(ix, queue=SALES, now=at(119))
        done = machine.auto_complete(ix, queue=SALES, now=at(120)).interaction
        assert (done.state, done.completed_by, done.auto_completed) == (State.COMPLETED, "alice", True)

    def test_queue_without_auto_complete_never_completes_by_itself(self):
        manual = SALES.model_copy(update={"settings": QueueSettings(auto_complete=False)})
        ix = machine.end(claimed_by(), actor=ALICE, outcome=Outcome.RESOLVED, now=at(60)).interaction
        assert machine.wrap_up_deadline(ix, manual) is None

    def test_complete_requires_wrap_up(self):
        with pytest.raises(IllegalTransition, match="only wrap_up ones"):
            machine.complete(claimed_by(), actor=ALICE, now=at(10))


class TestAfterCompletion:
    def test_edit_changes_allowed_fields_with_an_audit_entry(self):
        ix = machine.edit(
            completed(), actor=BOB, changes={"tags": ["vip", "vip", "refund"], "subject": "Refund"}, now=at(200)
        ).interaction
        assert (ix.tags, ix.subject) == (["vip", "refund"], "Refund")
        assert ix.activity[-1].kind == "edited" and ix.activity[-1].by == "bob"

    @pytest.mark.parametrize("field", ["completed_by", "completed_at", "activity"])
    def test_who_completed_when_and_the_feed_are_permanent(self, field):
        with pytest.raises(FieldNotEditable, match="permanent"):
            machine.edit(completed(), actor=BOB, changes={field: "x"}, now=at(200))

    def test_editing_an_active_interactions_completion_fields_is_refused(self):
        with pytest.raises(FieldNotEditable):
            machine.edit(claimed_by(), actor=ALICE, changes={"completed_by": "alice"}, now=at(10))

    def test_edit_with_a_wrong_type_is_invalid(self):
        with pytest.raises(InvalidCommand, match="tags"):
            machine.edit(completed(), actor=BOB, changes={"tags": "not-a-list"}, now=at(200))

    def test_clone_makes_a_linked_active_outbound_follow_up(self):
        parent = completed()
        child = machine.clone(parent, id="ix2", queue=SALES, actor=BOB, now=at(300)).interaction
        assert (child.id, child.parent_id, child.direction, child.state, child.assigned_to) == (
            "ix2",
            "ix1",
            Direction.OUTBOUND,
            State.ACTIVE,
            "bob",
        )
        assert child.customer == parent.customer

    def test_only_completed_interactions_are_cloned(self):
        with pytest.raises(IllegalTransition, match="only completed"):
            machine.clone(claimed_by(), id="ix2", queue=SALES, actor=BOB, now=at(300))


class TestAccessBeforeState:
    """Someone outside the queue learns nothing from a command: 403 whatever the status, never a telling 409."""

    OUTSIDE_SUPERVISOR = User(id="ola", username="ola", name="Ola", role=Role.SUPERVISOR, queues=["support"])

    @staticmethod
    def in_status(status: str) -> Interaction:
        if status == "open":
            return inbound_call()
        if status == "pending":
            return machine.offer(inbound_call(), to=ALICE, queue=SALES, now=at(1)).interaction
        if status == "claimed":
            return claimed_by(ALICE)
        if status == "consulting":
            return consulting_bob()
        if status == "wrap_up":
            return machine.end(claimed_by(ALICE), actor=ALICE, outcome=Outcome.RESOLVED, now=at(60)).interaction
        return completed()

    COMMANDS = {
        "claim": lambda ix, who: machine.claim(ix, actor=who, now=at(100)),
        "decline": lambda ix, who: machine.decline(ix, actor=who, now=at(100)),
        "transfer": lambda ix, who: transfer(ix, SUPPORT, actor=who, now=at(100)),
        "complete_consult": lambda ix, who: machine.complete_consult(
            ix, actor=who, queue=SALES, now=at(100), target_user=BOB
        ),
        "cancel_consult": lambda ix, who: machine.cancel_consult(ix, actor=who, now=at(100)),
        "join_consult": lambda ix, who: machine.join_consult(ix, actor=who, now=at(100)),
        "switch_channel": lambda ix, who: machine.switch_channel(
            ix, actor=who, type=CommType.MESSAGING, subtype=Subtype.TEXT, queue=SALES, now=at(100)
        ),
        "reply": lambda ix, who: machine.add_message(
            ix,
            message=Message(
                id="m9", at=at(100), direction=Direction.OUTBOUND, author=who.id, body="hi", channel=Subtype.TEXT
            ),
            actor=who,
            now=at(100),
        ),
        "note": lambda ix, who: machine.add_note(
            ix, actor=who, note=Note(id="n9", at=at(100), author=who.id, body="peek"), now=at(100)
        ),
        "mark_read": lambda ix, who: machine.mark_read(ix, reader=who, now=at(100)),
        "end": lambda ix, who: machine.end(ix, actor=who, outcome=Outcome.RESOLVED, now=at(100)),
        "complete": lambda ix, who: machine.complete(ix, actor=who, now=at(100)),
        "edit": lambda ix, who: machine.edit(ix, actor=who, changes={"subject": "peek"}, now=at(100)),
        "clone": lambda ix, who: machine.clone(ix, id="ix9", queue=SALES, actor=who, now=at(100)),
    }

    @pytest.mark.parametrize("status", ["open", "pending", "claimed", "consulting", "wrap_up", "completed"])
    @pytest.mark.parametrize("command", sorted(COMMANDS))
    @pytest.mark.parametrize("outsider", [EVE, OUTSIDE_SUPERVISOR], ids=["agent", "supervisor"])
    def test_a_non_member_is_denied_whatever_the_status(self, command, status, outsider):
        ix = self.in_status(status)
        with pytest.raises(PermissionDenied, match="not a member of queue sales"):
            self.COMMANDS[command](ix, outsider)

    def test_members_still_learn_why_a_command_does_not_fit_the_state(self):
        with pytest.raises(IllegalTransition, match="only claimed ones"):
            machine.end(self.in_status("wrap_up"), actor=ALICE, outcome=Outcome.RESOLVED, now=at(100))
        with pytest.raises(IllegalTransition, match="only pending ones"):
            machine.decline(self.in_status("open"), actor=BOB, now=at(100))
