"""The floor: who is available, who gets offered what, and the queues' live figures.

The part of the core that reads across agents and queues rather than changing one interaction:
presence (chosen, connected, busy), the dispatcher that makes offers, and the figures supervisors
and the transfer picker see.  ``Sessions`` inherits it; the offers themselves go through
``Sessions.offer`` like every other command.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .availability import CHOOSABLE, Agent, PresenceChoice, PresenceStatus, effective, plan_offers
from .clock import Clock
from .errors import DomainError, InvalidCommand
from .events import Cursor, Event, EventType
from .metrics import Backlog, QueueFigures, Tally, assemble, start_of_day, windows
from .model import DEFAULT_CAPACITY, Channel, Interaction, Role, User
from .queues import Queue, QueueSettings
from .stores.base import Store

#: After the clock alone (no event on the queue) recomputed a queue's figures, how long until it may again.
CLOCK_REFRESH = timedelta(seconds=30)


@dataclass
class Tallies:
    """One queue's tallies as last computed, valid until an event touches the queue or the clock reaches ``until``."""

    settings: QueueSettings
    live: Backlog
    last_15: Tally
    today: Tally
    until: datetime
    #: Whether the clock alone (no event on the queue) asked for this computation.
    by_clock: bool = False


@dataclass
class TallyCache:
    """What the metrics publisher computed, and how far into the log it knows which queues changed."""

    cursor: Cursor | None = None
    queues: dict[str, Tallies] = field(default_factory=dict)


class Floor:
    store: Store
    clock: Clock
    tallies: TallyCache

    async def offer(self, interaction_id: str, user_id: str) -> Event:  # Sessions' command
        raise NotImplementedError

    async def _last_routed(self) -> dict[str, float]:
        """When each user and queue was last routed to (the tie-breaker of routing and offers)."""
        return {k: float(v) for k, v in (await self.store.map_all("routed")).items()}

    async def set_presence(self, actor: User, status: PresenceStatus) -> PresenceStatus:
        if status not in CHOOSABLE:
            raise InvalidCommand(f"Choose available or away; {status.value} follows from what the agent is doing.")
        await self.store.map_set(
            "presence", actor.id, PresenceChoice(status=status, since=self.clock.now()).model_dump_json()
        )
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

    async def agents(self) -> list[Agent]:
        """Every agent and supervisor (and admin taking routed work) with their presence, load and idleness;
        loads from the index of who holds what."""
        users = [u for u in await self.store.list_users() if u.role is not Role.ADMIN or u.routable]
        loads = await self.store.loads([u.id for u in users])
        choices = {
            uid: PresenceChoice.model_validate_json(raw) for uid, raw in (await self.store.map_all("presence")).items()
        }
        online = await self._connected_users()
        routed = await self._last_routed()
        return [
            Agent(
                user=u,
                choice=choices.get(u.id, PresenceChoice()),
                connected=u.id in online,
                load=loads[u.id],
                last_routed=routed.get(f"user:{u.id}", 0.0),
            )
            for u in users
        ]

    async def available_in(self, queue_id: str, agents: list[Agent] | None = None) -> int:
        agents = agents if agents is not None else await self.agents()
        return sum(
            1
            for a in agents
            if a.user.routable
            and queue_id in a.user.queues
            and effective(a.user, a.choice, a.connected, a.load) is PresenceStatus.AVAILABLE
        )

    async def presence_of(self, user: User) -> PresenceStatus:
        agent = next((a for a in await self.agents() if a.user.id == user.id), None)
        if agent is None:
            return PresenceStatus.OFFLINE
        return effective(agent.user, agent.choice, agent.connected, agent.load)

    async def announce_presence(self, user: User) -> PresenceStatus:
        """Publishes the user's effective presence to their queues' supervisors (and to themself)."""
        status = await self.presence_of(user)
        await self.store.publish(
            Event(
                type=EventType.PRESENCE_CHANGED,
                at=self.clock.now(),
                queues=list(user.queues),
                users=[user.id],
                roles=[Role.SUPERVISOR.value, Role.ADMIN.value],
                data={"user": user.id, "status": status.value},
            )
        )
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
            agents = await self.agents()
            waiting = await self._could_be_offered(agents)
            if not waiting:
                return []
            now = self.clock.now()
            made: list[Event] = []
            for offer in plan_offers(waiting, agents, now.timestamp()):
                try:
                    made.append(await self.offer(offer.interaction_id, offer.user_id))
                except DomainError:
                    continue  # claimed or moved meanwhile
                await self.store.map_set("routed", f"user:{offer.user_id}", repr(now.timestamp()))
            return made
        finally:
            await self.store.release("dispatch", owner)

    async def _could_be_offered(self, agents: list[Agent]) -> list[Interaction]:
        """The open interactions one round of ``plan_offers`` can reach, oldest first.

        A queue's waiting ones on a channel are offered in order until its agents' free capacity on
        that channel runs out (eligibility depends on queue and channel only), so the oldest
        ``free capacity`` of each (queue, channel) give the same plan as all of them.  No agent
        free: nothing is read.
        """
        free: Counter[tuple[str, Channel]] = Counter()
        for a in agents:
            for channel in DEFAULT_CAPACITY:
                if a.can_take(channel):
                    for queue_id in a.user.queues:
                        free[(queue_id, channel)] += a.user.capacity_for(channel) - a.load[channel]
        waiting = [
            ix for (queue_id, channel), n in free.items() for ix in await self.store.waiting(queue_id, channel, n)
        ]
        return sorted(waiting, key=lambda ix: (ix.created_at, ix.id))

    # -- figures -------------------------------------------------------------------------

    async def figures(self, queue: Queue, agents: list[Agent] | None = None) -> QueueFigures:
        """The queue's live figures from two aggregates over indexes (metrics.queue_figures is their definition)."""
        now = self.clock.now()
        live = await self.store.backlog(queue.id, start_of_day(now))
        last_15, today = await self.store.service_tallies(queue.id, queue.settings, windows(now), now)
        return assemble(queue, live, last_15, today, now, await self.available_in(queue.id, agents))

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
        changed, self.tallies.cursor = await self.store.queues_changed_since(self.tallies.cursor)
        for queue in await self.store.list_queues():
            t = await self._tallies_of(queue, changed, now)
            figures = assemble(queue, t.live, t.last_15, t.today, now, await self.available_in(queue.id, agents))
            data = figures.as_dict(now)
            stable = {k: v for k, v in data.items() if k not in QueueFigures.TICKING}
            if previous.get(queue.id) == stable:
                continue
            previous[queue.id] = stable
            published.append(
                await self.store.publish(
                    Event(
                        type=EventType.QUEUE_METRICS,
                        at=now,
                        queues=[queue.id],
                        users=[],
                        roles=[Role.SUPERVISOR.value, Role.ADMIN.value],
                        data=data,
                    )
                )
            )
        return published

    async def _tallies_of(self, queue: Queue, changed: set[str] | None, now: datetime) -> Tallies:
        """The queue's tallies, recomputed only if an event touched the queue (``changed`` None: any may have),
        its settings changed, or the clock alone changed them (an arrival left the 15 minutes or passed the
        threshold; a new day).  An idle queue costs no aggregate, however many interactions it holds."""
        cached = self.tallies.queues.get(queue.id)
        untouched = (
            cached is not None and changed is not None and queue.id not in changed and cached.settings == queue.settings
        )
        if untouched and now < cached.until:  # type: ignore[union-attr]
            return cached  # type: ignore[return-value]
        last_15, today = windows(now)
        live = await self.store.backlog(queue.id, today)
        t15, tday = await self.store.service_tallies(queue.id, queue.settings, (last_15, today), now)
        by_clock = await self.store.next_tally_change(queue.id, queue.settings, now - last_15, now)
        until = min(by_clock, today + timedelta(days=1)) if by_clock else today + timedelta(days=1)
        if untouched and cached.by_clock:  # type: ignore[union-attr]
            # The clock alone got here twice running.  Under steady traffic it changes a busy queue's service
            # level every second (arrivals leave the 15 minutes): such refreshes come at most every
            # CLOCK_REFRESH, while an event on the queue refreshes it at once.
            until = max(until, now + CLOCK_REFRESH)
        fresh = self.tallies.queues[queue.id] = Tallies(queue.settings, live, t15, tday, until, untouched)
        return fresh

    async def transfer_targets(self, actor: User) -> dict[str, Any]:
        """What the transfer picker shows: queues with waiting count,
        average wait and available agents; people with presence."""
        now = self.clock.now()
        agents = await self.agents()
        queues = []
        for queue in await self.store.list_queues():
            figures = await self.figures(queue, agents)
            queues.append(
                {
                    "id": queue.id,
                    "name": queue.name,
                    "waiting": figures.waiting,
                    "average_wait_seconds": figures.average_wait(now),
                    "available_agents": figures.available_agents,
                }
            )
        people = [
            {
                "id": a.user.id,
                "name": a.user.name,
                "queues": a.user.queues,
                "presence": effective(a.user, a.choice, a.connected, a.load).value,
            }
            for a in agents
            if a.user.id != actor.id
        ]
        return {"queues": queues, "users": people}
