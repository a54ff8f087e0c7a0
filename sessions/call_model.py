"""The live call's state as the interaction keeps it (``Interaction.call``): who is on the line, held, three-way,
monitors.  Changed only by :mod:`sessions.call_control`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from sessions.model_base import Model


class MonitorMode(StrEnum):
    """How a supervisor is on a live call: heard by nobody, by the agent only (coaching), or by everyone."""

    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class LinePart(StrEnum):
    """A place on a live call's line other than a monitor's (monitors are kept by user, with their mode)."""

    CALLER = "caller"
    AGENT = "agent"
    CONSULT = "consult"


class Call(Model):
    """The live call's own state, changed only by the commands of :mod:`sessions.call_control`.

    The interaction keeps it (rather than the audio bridge alone) so that whatever joins the call later, a
    reconnecting browser or another gateway node, puts the audio back as the people on it decided.
    """

    #: The handler put the caller on hold (they hear nothing, nobody hears them); survives the agent reconnecting.
    held: bool = False
    #: During a consult: the caller talks with the agent and the consulted party.  Means nothing outside a consult.
    three_way: bool = False
    #: Supervisors on the call, by user id.
    monitors: dict[str, MonitorMode] = Field(default_factory=dict)
    #: Who else has audio on the call, in the order they joined.
    on_line: list[LinePart] = Field(default_factory=list)
