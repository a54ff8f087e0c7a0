"""The live call's own state as pure commands: hold, three-way, monitoring, who has audio on the line.

Same shape as :mod:`sessions.machine`: each command takes the interaction (never mutated), who asks and
``now``, checks that it is legal and returns a :class:`~sessions.machine.Change` with its event type.  The
audio bridge follows the committed :class:`~sessions.call_model.Call` (it never decides these itself), so a
browser that reconnects, or the next node to carry the call, puts the audio back as the people on it left it.
The activity entries keep the texts the feed has always shown; they are for people, never read back.
"""

from __future__ import annotations

from datetime import datetime

from .call_model import Call, LinePart, MonitorMode
from .errors import IllegalTransition, PermissionDenied
from .events import Change, EventType
from .machine.steps import log, next_version
from .model import CommType, Interaction, Role, Status, User
from .transitions import Command, check, require_access

#: What the feed says a supervisor does on the call, by mode.
MONITORING = {
    MonitorMode.LISTEN: "is listening",
    MonitorMode.WHISPER: "is whispering to the agent",
    MonitorMode.BARGE: "barged in",
}


def _call_of(ix: Interaction, actor: User | None, command: Command) -> tuple[Interaction, Call]:
    """The guard of every command here (its rule in :mod:`sessions.transitions`, then: a call); returns the next
    interaction and its call."""
    check(command, ix, actor)
    if ix.type is not CommType.CALL:
        raise IllegalTransition(f"Interaction {ix.id} is a {ix.type.value}, not a call.")
    nxt = next_version(ix)
    nxt.call = nxt.call or Call()
    return nxt, nxt.call


def hold(ix: Interaction, *, actor: User, on: bool, now: datetime) -> Change:
    """The handler puts the caller on hold, or back; it stays so until they say otherwise, whoever reconnects."""
    nxt, call = _call_of(ix, actor, Command.HOLD)
    call.held = on
    log(
        nxt,
        now,
        "call_control",
        actor.id,
        f"{'Held' if on else 'Resumed'} by {actor.name}",
        status="hold" if on else "resume",
    )
    return Change(nxt, EventType.HELD if on else EventType.RESUMED, {"user": actor.id})


def three_way(ix: Interaction, *, actor: User, on: bool, now: datetime) -> Change:
    """During a consult, the handler brings the caller into the
    conversation with the consulted party, or back to holding."""
    nxt, call = _call_of(ix, actor, Command.THREE_WAY)
    if ix.consult is None:
        raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
    call.three_way = on
    detail = f"{actor.name} {'joined the caller to the consult' if on else 'put the caller back on hold'}"
    log(nxt, now, "call_control", actor.id, detail, status="three_way" if on else "consult")
    return Change(nxt, EventType.THREE_WAY_STARTED if on else EventType.THREE_WAY_ENDED, {"user": actor.id})


def _require_supervisor(ix: Interaction, actor: User) -> None:
    require_access(ix, actor)
    if actor.role is Role.AGENT:
        raise PermissionDenied(
            f"Only a call's agent, the user consulted, and supervisors or admins monitoring it are on its audio;"
            f" {actor.name} is an agent."
        )


def place_of(ix: Interaction, actor: User) -> LinePart | None:
    """Where a user's browser goes on this call: the handler's place, the consulted user's, or (None) monitoring it,
    which only supervisors and admins do (PermissionDenied for anyone else).

    The adapter asks before it opens a connection, so a refused browser gets none; :func:`audio_joined` and
    :func:`monitor` then apply the same guards (``_require_part``, ``_require_supervisor``) when it is on.
    """
    if actor.id == ix.assigned_to and ix.status is Status.CLAIMED:
        return LinePart.AGENT
    if ix.consults(actor.id):
        return LinePart.CONSULT
    _require_supervisor(ix, actor)
    return None


def monitor(ix: Interaction, *, actor: User, mode: MonitorMode, now: datetime) -> Change:
    """A supervisor starts monitoring the call, or changes how (listen, whisper to the agent, barge in)."""
    _require_supervisor(ix, actor)
    nxt, call = _call_of(ix, actor, Command.MONITOR)
    started = actor.id not in call.monitors
    call.monitors[actor.id] = mode
    log(nxt, now, "monitor", actor.id, f"{actor.name} {MONITORING[mode]}", status=mode.value)
    return Change(
        nxt, EventType.MONITOR_STARTED if started else EventType.MONITOR_CHANGED, {"user": actor.id, "mode": mode.value}
    )


def monitor_stopped(ix: Interaction, *, actor: User, now: datetime) -> Change:
    """A supervisor's audio left the call."""
    nxt, call = _call_of(ix, actor, Command.STOP_MONITORING)
    if call.monitors.pop(actor.id, None) is None:
        raise IllegalTransition(f"{actor.name} is not monitoring interaction {ix.id}.")
    log(nxt, now, "monitor", actor.id, f"{actor.name} stopped monitoring", status="stopped")
    return Change(nxt, EventType.MONITOR_STOPPED, {"user": actor.id})


def _require_part(ix: Interaction, actor: User | None, party: LinePart) -> None:
    """The caller's audio is the customer's (no user); the agent's is the assignee's; the consult's the user consulted
    (or, ``actor`` None, an outside number dialled for the consult)."""
    if party is LinePart.CALLER and actor is not None:
        raise PermissionDenied(f"{actor.name} cannot be on the line as the caller.")
    if party is LinePart.AGENT and actor is not None and actor.id != ix.assigned_to:
        raise PermissionDenied(f"{actor.name} does not handle interaction {ix.id}.")
    if party is LinePart.CONSULT and (ix.consult is None or (actor is not None and not ix.consults(actor.id))):
        raise PermissionDenied(
            f"Nobody is consulted on interaction {ix.id} as {actor.name if actor else 'an outside number'}."
        )


def _whose(actor: User | None, party: LinePart) -> str:
    return "The customer's" if party is LinePart.CALLER else f"{actor.name}'s" if actor else "The consulted number's"


def audio_joined(ix: Interaction, *, party: LinePart, actor: User | None, now: datetime) -> Change:
    """A party's audio came on the line.  The caller's starts a new live call:
    no hold or monitor of an earlier one carries over."""
    nxt, call = _call_of(ix, actor, Command.JOIN_AUDIO)
    _require_part(ix, actor, party)
    if party is LinePart.CALLER:
        nxt.call = call = Call()
    if party not in call.on_line:
        call.on_line.append(party)
    by = actor.id if actor else "customer" if party is LinePart.CALLER else "system"
    log(nxt, now, "audio", by, f"{_whose(actor, party)} audio connected", status="joined", party=party.value)
    return Change(nxt, EventType.AUDIO_JOINED, {"party": party.value, "user": actor.id if actor else None})


def audio_left(ix: Interaction, *, party: LinePart, actor: User | None, now: datetime) -> Change:
    """A party's audio left the line (what the caller then hears is the bridge's: an agent leaving holds them).

    Recorded even when its joining was not (audio that was on the line before the interaction kept who is on it).
    """
    nxt, call = _call_of(ix, actor, Command.LEAVE_AUDIO)
    if party in call.on_line:
        call.on_line.remove(party)
    by = actor.id if actor else "customer" if party is LinePart.CALLER else "system"
    log(nxt, now, "audio", by, f"{_whose(actor, party)} audio disconnected", status="left", party=party.value)
    return Change(nxt, EventType.AUDIO_LEFT, {"party": party.value, "user": actor.id if actor else None})


#: Why a call's audio moved to another gateway process.
MOVE_REASONS = {
    "lost": "the process holding it stopped answering",
    "handed_over": "the process holding it was stopping and handed it over",
}


def audio_moved(
    ix: Interaction, *, from_node: str | None, to_node: str, reason: str, gap_seconds: float | None, now: datetime
) -> Change:
    """The call's audio now runs on another gateway process.  Who is on the line, held or monitoring is unchanged:
    the call is the same one, and the browsers on it connect again to where it now runs (the event tells them)."""
    if reason not in MOVE_REASONS:
        raise IllegalTransition(f"Unknown reason for moving a call's audio: {reason!r}.")
    nxt, _ = _call_of(ix, None, Command.MOVE_AUDIO)
    gap = f"; the caller heard silence for {gap_seconds:.1f} s" if gap_seconds is not None else ""
    log(
        nxt,
        now,
        "audio",
        "system",
        f"The call's audio moved to another gateway process: {MOVE_REASONS[reason]}{gap}",
        status="moved",
        reason=reason,
    )
    data = {"from_node": from_node, "to_node": to_node, "reason": reason, "gap_seconds": gap_seconds}
    return Change(nxt, EventType.AUDIO_MOVED, data)
