"""Which command fits which interaction, and who may give it: one table, checked by one function.

Like h11's ``_state.py``, the legal statuses of every command of :mod:`sessions.machine`
are data (:data:`RULES`) rather than a guard repeated in each command.  :func:`check`
applies a rule in a fixed order:

1. access: may the actor see the interaction at all (a member of its queue, its assignee or
   offeree, the user consulted)?  Someone outside is refused (403) whatever the status, so a
   refusal never tells them what state an interaction they may not see is in (a 409 would);
2. state: is the interaction in one of the statuses the command fits (409 otherwise)?
3. handler: for commands only the one handling it gives, is the actor the assignee, or a
   supervisor or admin of its queue?  Checked after the state, so members still learn why a
   command does not fit;
4. consult: commands that would pull the call from under a warm transfer wait for it to end.

``actor=None`` is the system or the customer (provider callbacks, timers): always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import IllegalTransition, PermissionDenied
from .model import Interaction, Role, State, Status, User

#: The statuses of an active interaction.
ACTIVE: tuple[Status, ...] = (Status.OPEN, Status.PENDING, Status.CLAIMED, Status.WRAP_UP)
#: Any status, completed included: commands that trail the conversation (receipts, recordings, notes, edits).
ANY: tuple[Status, ...] = (*ACTIVE, Status.COMPLETED)
WAITING: tuple[Status, ...] = (Status.OPEN, Status.PENDING)


class Command(StrEnum):
    """The commands of the state machine, by the verb their refusals use."""

    CLONE = "clone"
    OFFER = "offer"
    DECLINE = "decline"
    EXPIRE_OFFER = "expire the offer of"
    CLAIM = "claim"
    TRANSFER = "transfer"
    COMPLETE_CONSULT = "complete the consult of"
    JOIN_CONSULT = "join the consult of"
    CANCEL_CONSULT = "cancel the consult of"
    REQUEUE = "requeue"
    SWITCH_CHANNEL = "switch the channel of"
    ADD_MESSAGE = "add a message to"
    REPLY = "reply on"
    UPDATE_MESSAGE_STATUS = "update a message status of"
    ADD_NOTE = "add a note to"
    MARK_READ = "mark messages read on"
    ATTACH_RECORDING = "attach a recording to"
    RECORDING_STORED = "store a recording of"
    PROVIDER_STATUS = "report on"
    DIVERT_TO_VOICEMAIL = "send to voicemail"
    ATTACH_TRANSCRIPT = "attach a transcript to"
    END = "end"
    COMPLETE = "complete"
    AUTO_COMPLETE = "auto-complete"
    ABANDON = "abandon"
    CUSTOMER_LEFT = "end the contact of"
    EDIT = "edit"
    # The live call (sessions/call_control.py).
    HOLD = "hold or resume the call of"
    THREE_WAY = "join the caller to the consult of"
    MONITOR = "monitor"
    STOP_MONITORING = "stop monitoring"
    JOIN_AUDIO = "join the audio of"
    LEAVE_AUDIO = "leave the audio of"
    MOVE_AUDIO = "move the audio of"


@dataclass(frozen=True)
class Rule:
    """When a command fits: the statuses it accepts (in the order refusals name them), whether only the handler
    gives it, and whether a consult in progress blocks it."""

    statuses: tuple[Status, ...]
    handler: bool = False
    no_consult: bool = False


RULES: dict[Command, Rule] = {
    Command.CLONE: Rule((Status.COMPLETED,)),
    Command.OFFER: Rule((Status.OPEN,)),
    Command.DECLINE: Rule((Status.PENDING,)),
    Command.EXPIRE_OFFER: Rule((Status.PENDING,)),
    Command.CLAIM: Rule(ACTIVE),  # which active statuses may be claimed, and by whom, the command says itself
    Command.TRANSFER: Rule((Status.OPEN, Status.PENDING, Status.CLAIMED), handler=True, no_consult=True),
    Command.COMPLETE_CONSULT: Rule(ACTIVE, handler=True),
    Command.JOIN_CONSULT: Rule(ACTIVE),
    Command.CANCEL_CONSULT: Rule(ACTIVE, handler=True),
    Command.REQUEUE: Rule((Status.CLAIMED,)),
    Command.SWITCH_CHANNEL: Rule(ACTIVE, handler=True, no_consult=True),
    Command.ADD_MESSAGE: Rule(ACTIVE),
    Command.REPLY: Rule(ACTIVE, handler=True),
    Command.UPDATE_MESSAGE_STATUS: Rule(ANY),
    Command.ADD_NOTE: Rule(ANY),
    Command.MARK_READ: Rule(ANY),
    Command.ATTACH_RECORDING: Rule(ANY),
    Command.RECORDING_STORED: Rule(ANY),
    Command.PROVIDER_STATUS: Rule(ANY),
    Command.DIVERT_TO_VOICEMAIL: Rule(WAITING),
    Command.ATTACH_TRANSCRIPT: Rule(ANY),
    Command.END: Rule((Status.CLAIMED,), handler=True, no_consult=True),
    Command.COMPLETE: Rule((Status.WRAP_UP,), handler=True),
    Command.AUTO_COMPLETE: Rule((Status.WRAP_UP,)),
    Command.ABANDON: Rule(WAITING),
    # Waiting: abandoned; claimed: wrap-up or kept; anything else the customer leaving changes nothing.
    Command.CUSTOMER_LEFT: Rule((*WAITING, Status.CLAIMED)),
    Command.EDIT: Rule(ANY),
    Command.HOLD: Rule(ACTIVE, handler=True),
    Command.THREE_WAY: Rule(ACTIVE, handler=True),
    Command.MONITOR: Rule(ACTIVE),
    Command.STOP_MONITORING: Rule(ACTIVE),
    Command.JOIN_AUDIO: Rule(ACTIVE),
    Command.LEAVE_AUDIO: Rule(ACTIVE),
    Command.MOVE_AUDIO: Rule(ACTIVE),
}


def check(command: Command, ix: Interaction, actor: User | None) -> None:
    """Refuses ``command`` on ``ix`` by ``actor`` unless its rule allows it.

    In order: access, then state, then handler, then consult.
    """
    rule = RULES[command]
    require_access(ix, actor)
    if ix.status not in rule.statuses:
        if ix.state is not State.ACTIVE:
            raise IllegalTransition(f"Cannot {command} interaction {ix.id}: it is completed.")
        wanted = " or ".join(s.value for s in rule.statuses)
        raise IllegalTransition(
            f"Cannot {command} interaction {ix.id}: it is {ix.status.value}, and only {wanted} ones can be."
        )
    if rule.handler:
        require_handler(ix, actor, command)
    if rule.no_consult and ix.consult is not None:
        raise IllegalTransition(
            f"Cannot {command} interaction {ix.id} during a consult: complete or cancel the consult first."
        )


def require_access(ix: Interaction, actor: User | None) -> None:
    """Whether ``actor`` may see the interaction at all.

    A member of its queue, its assignee or offeree, or the user consulted may.
    """
    if actor is None or actor.can_see_queue(ix.queue_id) or actor.id in (ix.assigned_to, ix.offered_to):
        return
    if ix.consults(actor.id):
        return  # the user consulted on a warm transfer sees the call they are asked to take
    raise PermissionDenied(f"{actor.name} is not a member of queue {ix.queue_id}.")


def require_handler(ix: Interaction, actor: User | None, action: str) -> None:
    """The assignee acts on their interaction; supervisors and admins on any of their queues'."""
    if actor is None or actor.id == ix.assigned_to:
        return
    require_access(ix, actor)
    if actor.role is Role.AGENT:
        raise PermissionDenied(f"Only the agent handling interaction {ix.id}, or a supervisor, can {action} it.")
