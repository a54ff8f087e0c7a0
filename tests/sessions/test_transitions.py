"""The one table of which statuses each command fits, and the order check() refuses in."""

from __future__ import annotations

import pytest

from sessions.errors import IllegalTransition, PermissionDenied
from sessions.model import Consult, Interaction, State, Status, TargetKind, TransferTarget
from sessions.transitions import RULES, Command, check
from tests.sessions.scenarios import ALICE, BOB, EVE, T0, inbound_call

ACTIVE = {Status.OPEN, Status.PENDING, Status.CLAIMED, Status.WRAP_UP}
EVERY = set(Status)
WAITING = {Status.OPEN, Status.PENDING}

#: The specification, written out: the statuses each command fits.
FITS: dict[Command, set[Status]] = {
    Command.CLONE: {Status.COMPLETED},
    Command.OFFER: {Status.OPEN},
    Command.DECLINE: {Status.PENDING},
    Command.EXPIRE_OFFER: {Status.PENDING},
    Command.CLAIM: ACTIVE,
    Command.TRANSFER: {Status.OPEN, Status.PENDING, Status.CLAIMED},
    Command.COMPLETE_CONSULT: ACTIVE,
    Command.JOIN_CONSULT: ACTIVE,
    Command.CANCEL_CONSULT: ACTIVE,
    Command.REQUEUE: {Status.CLAIMED},
    Command.SWITCH_CHANNEL: ACTIVE,
    Command.ADD_MESSAGE: ACTIVE,
    Command.REPLY: ACTIVE,
    Command.UPDATE_MESSAGE_STATUS: EVERY,
    Command.ADD_NOTE: EVERY,
    Command.MARK_READ: EVERY,
    Command.ATTACH_RECORDING: EVERY,
    Command.RECORDING_STORED: EVERY,
    Command.PROVIDER_STATUS: EVERY,
    Command.DIVERT_TO_VOICEMAIL: WAITING,
    Command.ATTACH_TRANSCRIPT: EVERY,
    Command.END: {Status.CLAIMED},
    Command.COMPLETE: {Status.WRAP_UP},
    Command.AUTO_COMPLETE: {Status.WRAP_UP},
    Command.ABANDON: WAITING,
    Command.CUSTOMER_LEFT: WAITING | {Status.CLAIMED},
    Command.EDIT: EVERY,
    Command.HOLD: ACTIVE,
    Command.THREE_WAY: ACTIVE,
    Command.MONITOR: ACTIVE,
    Command.STOP_MONITORING: ACTIVE,
    Command.JOIN_AUDIO: ACTIVE,
    Command.LEAVE_AUDIO: ACTIVE,
    Command.MOVE_AUDIO: ACTIVE,
}
HANDLER_ONLY = {
    Command.TRANSFER,
    Command.COMPLETE_CONSULT,
    Command.CANCEL_CONSULT,
    Command.SWITCH_CHANNEL,
    Command.REPLY,
    Command.END,
    Command.COMPLETE,
    Command.HOLD,
    Command.THREE_WAY,
}
NOT_DURING_A_CONSULT = {Command.TRANSFER, Command.SWITCH_CHANNEL, Command.END}


def in_status(status: Status, assigned_to: str | None = None, **update) -> Interaction:
    state = State.COMPLETED if status is Status.COMPLETED else State.ACTIVE
    return inbound_call().model_copy(update={"status": status, "state": state, "assigned_to": assigned_to, **update})


def test_the_table_has_one_rule_for_every_command():
    assert set(RULES) == set(Command) == set(FITS)
    assert {c for c, r in RULES.items() if r.handler} == HANDLER_ONLY
    assert {c for c, r in RULES.items() if r.no_consult} == NOT_DURING_A_CONSULT


@pytest.mark.parametrize("command", list(Command))
@pytest.mark.parametrize("status", list(Status))
def test_each_command_fits_exactly_its_statuses(command, status):
    ix = in_status(status)
    if status in FITS[command]:
        check(command, ix, None)
    else:
        with pytest.raises(
            IllegalTransition, match="completed" if status is Status.COMPLETED else f"it is {status.value}, and only"
        ):
            check(command, ix, None)


@pytest.mark.parametrize("command", list(Command))
def test_someone_outside_the_queue_is_refused_before_the_state_is_told(command):
    wrong = next(iter((EVERY - FITS[command]) or EVERY))
    with pytest.raises(PermissionDenied, match="not a member of queue sales"):
        check(command, in_status(wrong), EVE)


@pytest.mark.parametrize("command", sorted(HANDLER_ONLY))
def test_a_member_learns_the_state_first_then_that_only_the_handler_may(command):
    with pytest.raises(IllegalTransition):
        check(command, in_status(Status.COMPLETED, assigned_to=BOB.id), ALICE)
    fits = Status.CLAIMED if Status.CLAIMED in FITS[command] else Status.WRAP_UP
    with pytest.raises(PermissionDenied, match="Only the agent handling"):
        check(command, in_status(fits, assigned_to=BOB.id), ALICE)
    check(command, in_status(fits, assigned_to=BOB.id), BOB)


@pytest.mark.parametrize("command", sorted(NOT_DURING_A_CONSULT))
def test_a_consult_blocks_the_handler_after_every_other_check(command):
    consult = Consult(target=TransferTarget(kind=TargetKind.QUEUE, id="support"), by=ALICE.id, started_at=T0)
    with pytest.raises(PermissionDenied):
        check(command, in_status(Status.CLAIMED, assigned_to=BOB.id, consult=consult), ALICE)
    with pytest.raises(IllegalTransition, match="during a consult"):
        check(command, in_status(Status.CLAIMED, assigned_to=ALICE.id, consult=consult), ALICE)
