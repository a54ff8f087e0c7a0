"""A leg of a live call asked of a process that does not hold the call's bridge."""

from __future__ import annotations

from sessions.errors import IllegalTransition


class Elsewhere(IllegalTransition):
    """This process holds no bridge for the call: its audio runs in another process, or nowhere yet.

    Raised by ``LiveCalls.require`` before any side effect, so the gateway can forward the request, as it came, to
    the call's home (``gateway/forwarding.py``); unhandled, it is the 409 of an illegal transition, as with one
    process.
    """

    def __init__(self, interaction_id: str) -> None:
        super().__init__(f"Interaction {interaction_id} has no live call on this gateway node.")
        self.interaction_id = interaction_id
