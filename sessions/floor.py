"""The floor: who is available, who gets offered what, and the queues' live figures.

The part of the core that reads across agents and queues rather than changing one interaction:
presence (chosen, connected, busy), the dispatcher that makes offers, and the figures supervisors
and the transfer picker see.  ``Sessions`` inherits it; the offers themselves go through
``Sessions.offer`` like every other command.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import machine
from .clock import Clock
from .errors import DomainError
from .events import Event
from .metrics import QueueFigures, queue_figures, start_of_day
from .model import Interaction, Queue, Role, State, Status, User
from .presence import CHOOSABLE, Agent, PresenceChoice, PresenceStatus, effective, load_of, plan_offers
from .stores.base import Store


class Floor:
    store: Store
    clock: Clock

    async def offer(self, interaction_id: str, user_id: str) -> Event:  # Sessions' command
        raise NotImplementedError

    async def _last_routed(self) -> dict[str, float]:
        """When each user and queue was last routed to (the tie-breaker of routing and offers)."""
        return {k: float(v) for k, v in (await self.store.map_all("routed")).items()}

    async def set_presence(self, actor: User, status: PresenceStatus) -> PresenceStatus:
        if status not in CHOOSABLE:
            raise machine.InvalidCommand(f"Choose available or away; {status.value} follows from what the agent is doing.")
        await self.store.map_set("presence", actor.id, PresenceChoice(status=status, since=self.clock.now()).model_dump_json())
        return await self.announce_presence(actor)

    async def connected(self, user_id: str, node: str, ttl: float) -> None:
        """Marks a live console connection of this process, valid ``ttl`` seconds unless refreshed."""
        await self.store.map_set("connections", f"{user_id}|{node}", repr(self.clock.now().timestamp() + ttl))

    async def disconnected(self, user_id: str, node: str) -> None:
        await self.store.map_delete("connections", f"{user_id}|{node}")

    async def _connected_users(self) -> set[str]:
        now = self.clock.now().timestamp()
        live, stale = set(), []
        for key, expiry in (await self.store.map_all("connections")).items():
            (live.add(key.split("|", 1)[0]) if float(expiry) > now else stale.append(key))
        if stale:
            await self.store.map_delete("connections", *stale)
        return live

    async def agents(self, active: list[Interaction] | None = None) -> list[Agent]:
        """Every agent and supervisor with their presence, load and idleness, from the store."""
        if active is None:
            active = await self.store.list_interactions(None, State.ACTIVE, limit=100_000)
        choices = {uid: PresenceChoice.model_validate_json(raw) for uid, raw in (await self.store.map_all("presence")).items()}
        online = await self._connected_users()
        routed = await self._last_routed()
        return [
            Agent(user=u, choice=choices.get(u.id, PresenceChoice()), connected=u.id in online, load=load_of(u.id, active), last_routed=routed.get(f"user:{u.id}", 0.0))
            for u in await self.store.list_users()
            if u.role is not Role.ADMIN
        ]

    async def available_in(self, queue_id: str, agents: list[Agent] | None = None) -> int:
        agents = agents if agents is not None else await self.agents()
        return sum(1 for a in agents if queue_id in a.user.queues and effective(a.user, a.choice, a.connected, a.load) is PresenceStatus.AVAILABLE)

    async def presence_of(self, user: User) -> PresenceStatus:
        agent = next((a for a in await self.agents() if a.user.id == user.id), None)
        if agent is None:
            return PresenceStatus.OFFLINE
        return effective(agent.user, agent.choice, agent.connected, agent.load)

    async def announce_presence(self, user: User) -> PresenceStatus:
        """Publishes the user's effective presence to their queues' supervisors (and to themself)."""
        status = await self.presence_of(user)
        await self.store.publish(Event(type="presence.changed", at=self.clock.now(), queues=list(user.queues), users=[user.id],
                                       roles=[Role.SUPERVISOR.value, Role.ADMIN.value], data={"user": user.id, "status": status.value}))
        return status

    async def dispatch(self, owner: str, lease_seconds: float = 10.0) -> list[Event]:
        """Offers waiting interactions to agents; one dispatcher at a time across processes.

        The lease makes capacity checks race-free between processes; the
        versioned offer makes each interaction's offer race-free against
        claims.  Returns the offers made (empty if another process holds the lease).
        """
        if not await self.store.lease("dispatch", owner, lease_seconds):
            return []
        try:
            active = await self.store.list_interactions(None, State.ACTIVE, limit=100_000)
            waiting = [ix for ix in active if ix.status is Status.OPEN]
            if not waiting:
                return []
            now = self.clock.now()
            made: list[Event] = []
            for offer in plan_offers(waiting, await self.agents(active), now.timestamp()):
                try:
                    made.append(await self.offer(offer.interaction_id, offer.user_id))
                except DomainError:
                    continue  # claimed or moved meanwhile
                await self.store.map_set("routed", f"user:{offer.user_id}", repr(now.timestamp()))
            return made
        finally:
            await self.store.release("dispatch", owner)

    # -- figures -------------------------------------------------------------------------

    async def figures(self, queue: Queue, agents: list[Agent] | None = None) -> QueueFigures:
        now = self.clock.now()
        since = min(start_of_day(now), now - timedelta(minutes=15))
        active = await self.store.list_interactions(queue.id, State.ACTIVE, limit=100_000)
        done = await self.store.list_interactions(queue.id, State.COMPLETED, limit=100_000, since=since)
        return queue_figures(queue, active + done, now, await self.available_in(queue.id, agents))

    async def publish_metrics(self, owner: str, previous: dict[str, dict[str, Any]]) -> list[Event]:
        """Publishes ``queue.metrics`` for each queue whose figures changed since ``previous`` (updated in place).

        Call it on a timer: the timer is the rate limit.  Figures carry
        ``oldest_waiting_since`` rather than a ticking wait, so an unchanged
        queue publishes nothing.
        """
        if not await self.store.lease("metrics", owner, 30):
            return []
        published: list[Event] = []
        agents = await self.agents()
        now = self.clock.now()
        for queue in await self.store.list_queues():
            figures = await self.figures(queue, agents)
            data = figures.as_dict(now)
            stable = {k: v for k, v in data.items() if k not in QueueFigures.TICKING}
            if previous.get(queue.id) == stable:
                continue
            previous[queue.id] = stable
            published.append(await self.store.publish(Event(type="queue.metrics", at=now, queues=[queue.id], users=[],
                                                            roles=[Role.SUPERVISOR.value, Role.ADMIN.value], data=data)))
        return published

    async def transfer_targets(self, actor: User) -> dict[str, Any]:
        """What the transfer picker shows: queues with waiting count, average wait and available agents; people with presence."""
        now = self.clock.now()
        agents = await self.agents()
        queues = []
        for queue in await self.store.list_queues():
            figures = await self.figures(queue, agents)
            queues.append({"id": queue.id, "name": queue.name, "waiting": figures.waiting, "average_wait_seconds": figures.average_wait(now),
                           "available_agents": figures.available_agents})
        people = [{"id": a.user.id, "name": a.user.name, "queues": a.user.queues, "presence": effective(a.user, a.choice, a.connected, a.load).value}
                  for a in agents if a.user.id != actor.id]
        return {"queues": queues, "users": people}

