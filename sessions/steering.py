"""Steering work to people who can take it: manual claims within capacity, user targets who can
answer, and routing again when an interaction's tags change.  Inherited by ``Sessions``; the rules
are the pure functions of ``capacity.py`` and ``targeting.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import capacity, targeting
from .availability import Agent
from .clock import Clock
from .errors import DomainError
from .events import Change, Event
from .model import Interaction, User
from .routing import Arrival, Decision, RoutingConfig
from .stores.base import Store


class Steering:
    store: Store
    clock: Clock

    # Provided by Sessions and Floor.
    async def _update(self, interaction_id: str, decide: Callable[[Interaction], Change]) -> Event:
        raise NotImplementedError

    async def agents(self) -> list[Agent]:
        raise NotImplementedError

    async def _last_routed(self) -> dict[str, float]:
        raise NotImplementedError

    async def routing_config(self) -> RoutingConfig:
        raise NotImplementedError

    async def claim(self, actor: User, interaction_id: str, override: bool = False) -> Event:
        """Takes an open interaction
        (within capacity, or over it with a supervisor's ``override``), or accepts an offer.

        The load is read just before the versioned update: two claims by one person racing on two
        interactions could both pass; the dispatcher's lease is what makes offers exact.
        """
        load = (await self.store.loads([actor.id]))[actor.id]
        return await self._update(
            interaction_id,
            lambda ix: capacity.claim(ix, actor=actor, load=load, override=override, now=self.clock.now()),
        )

    async def decide_arrival(self, arrival: Arrival, queue_hint: str | None) -> Decision:
        """Where a new contact goes, ringing only users who can answer now."""
        return targeting.decide_reachable(
            arrival,
            await self.routing_config(),
            await self.store.list_queues(),
            await self.store.list_users(),
            await self.agents(),
            await self._last_routed(),
            queue_hint,
        )

    async def reroute_after_edit(self, edited: Event, changes: dict[str, Any]) -> Event:
        """After an edit of tags on a waiting interaction: moves it if another queue now takes it (else ``edited``)."""
        ix = edited.interaction
        if "tags" not in changes or ix is None:
            return edited
        decision = targeting.reroute_target(ix, await self.store.list_queues(), await self._last_routed())
        if decision is None:
            return edited
        try:
            moved = await self._update(
                ix.id, lambda cur: targeting.reroute(cur, decision=decision, tags=ix.tags, now=self.clock.now())
            )
        except DomainError:
            return edited  # claimed, moved or re-tagged meanwhile: that change stands
        await self.store.map_set("routed", f"queue:{decision.target}", repr(self.clock.now().timestamp()))
        return moved
