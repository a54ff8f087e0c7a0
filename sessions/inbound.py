"""Inbound contacts: where a new call, message or chat goes, created there with the routing decision in its feed.

A mixin of :class:`sessions.service.Sessions`; the decision itself is :meth:`sessions.steering.Steering.decide_arrival`
(the pure rules in ``routing.py`` and ``targeting.py``), and a decision naming a user is followed by an offer to them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from . import machine
from .clock import Clock
from .errors import DomainError, Unrouted
from .events import Change, Event
from .model import CommType, Customer, Direction, Subtype
from .routing import Arrival, Decision
from .stores.base import Store

log = logging.getLogger("sessions.inbound")

#: What a customer reads or hears when no queue takes their contact: never the configuration problem itself.
APOLOGY = "Sorry, we can't take your message right now. Please try again later."
#: The configuration problem, for operators' logs and for admins (``map_get("alerts", "unrouted")``).
NO_ROUTE = "No queue matches this contact and no default queue is configured; an admin must set one under Routing."


class Inbound:
    """Relies on ``Sessions`` (store, clock, ids, ``offer``), ``Steering.decide_arrival``, ``Floor.available_in``
    and ``CustomerBook.linked``."""

    store: Store
    clock: Clock
    ids: Callable[[], str]
    # Provided by Sessions and its other mixins (declared, not defined, so they shadow nothing in the MRO).
    offer: Callable[[str, str], Awaitable[Event]]
    decide_arrival: Callable[[Arrival, str | None], Awaitable[Decision]]
    available_in: Callable[..., Awaitable[int]]
    linked: Callable[..., Awaitable[Change]]

    async def route_inbound(
        self,
        *,
        type: CommType,
        subtype: Subtype,
        customer: Customer | None = None,
        to_address: str | None = None,
        first_message: str | None = None,
        queue_hint: str | None = None,
        tags: list[str] | None = None,
        id: str | None = None,
        voicemail_when_unstaffed: bool = False,
        parent_id: str | None = None,
    ) -> Event:
        """Creates an inbound interaction where routing sends it, recording the decision in its feed.

        ``queue_hint`` (the queue a channel associates with the number called)
        is used only when no rule or tag matches; after it, the default queue.
        With ``voicemail_when_unstaffed``, a call to a queue that takes
        voicemail and has no available agent becomes a voicemail at once.
        """
        customer = customer or Customer()
        arrival = Arrival(
            type=type,
            subtype=subtype,
            to_address=to_address,
            first_message=first_message,
            attributes=customer.attributes,
            tags=tuple(tags or ()),
        )
        decision = await self.decide_arrival(arrival, queue_hint)
        if not decision.queue_id:
            await self._unrouted(arrival)
        queue = await self.store.get_queue(decision.queue_id)
        now = self.clock.now()
        data = decision.as_data()
        if (
            voicemail_when_unstaffed
            and type is CommType.CALL
            and queue.settings.voicemail
            and await self.available_in(queue.id) == 0
        ):
            type, subtype = CommType.VOICEMAIL, Subtype.VOICEMAIL
            data["voicemail"] = f"no agent of queue {queue.id} is available"
        change = machine.create(
            id=id or self.ids(),
            queue=queue,
            direction=Direction.INBOUND,
            type=type,
            subtype=subtype,
            now=now,
            customer=customer,
            tags=decision.tags,
            to_address=to_address,
            routing=data,
            parent_id=parent_id,
        )
        event = await self.store.insert(await self.linked(change), now)
        await self.store.map_set("routed", f"{decision.kind}:{decision.target}", repr(now.timestamp()))
        if decision.kind == "user":
            try:
                return await self.offer(event.interaction.id, decision.target)  # type: ignore[union-attr]
            except DomainError:
                pass  # the user cannot take it now: it waits in the queue for the dispatcher
        return event

    async def _unrouted(self, arrival: Arrival) -> None:
        """Logs the configuration gap and keeps its last occurrence for admins, then refuses the contact politely."""
        where = f"{arrival.type.value}/{arrival.subtype.value}" + (
            f" to {arrival.to_address}" if arrival.to_address else ""
        )
        log.warning("contact refused (%s): %s", where, NO_ROUTE)
        note = {"at": self.clock.now().isoformat(), "contact": where, "reason": NO_ROUTE}
        await self.store.map_set("alerts", "unrouted", json.dumps(note))
        raise Unrouted(APOLOGY, NO_ROUTE)
