"""The core's one entry point: commands in, stored events out.

Adapters (HTTP, webhooks, websockets) call these methods; each resolves what
the pure state machine needs (queues, users, ids, the time), then lets the
store run the read-decide-commit step.  Nothing here knows about HTTP or
Twilio.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from . import machine
from .administration import Administration
from .call_homes import CallHomes
from .call_state import CallState
from .clock import Clock, SystemClock
from .coaching_service import Coaching
from .conversation_service import Conversation
from .customer_book import CustomerBook
from .directory import Directory
from .disconnects import Disconnects
from .errors import IllegalTransition, NotFound, PermissionDenied
from .events import Change, Event
from .floor import Floor, TallyCache
from .inbound import Inbound
from .inbox import Inbox
from .model import (
    CommType,
    Customer,
    Direction,
    Interaction,
    Outcome,
    Role,
    State,
    Subtype,
    TargetKind,
    TransferMode,
    TransferTarget,
    User,
)
from .permissions import Right, transfer_right
from .queues import Queue
from .rights import Rights
from .steering import Steering
from .stores.base import Store
from .timers import Timers
from .transcripts import LiveTranscripts
from .webhook_service import Webhooks


def new_id() -> str:
    return uuid.uuid4().hex


class Sessions(
    Administration,
    Inbound,
    Conversation,
    Directory,
    CustomerBook,
    Coaching,
    Inbox,
    Floor,
    Rights,
    CallState,
    CallHomes,
    Disconnects,
    LiveTranscripts,
    Steering,
    Timers,
    Webhooks,
):
    """Reads and the lifecycle commands of interactions (create, offer, transfer, consult, end, complete, edit).

    The other jobs are mixins: queues, users and the routing configuration are Administration's; where an inbound
    contact goes is Inbound's; messages, notes, recordings and provider reports are Conversation's; presence,
    offers and figures are the Floor's; claims within capacity, reachable user targets and re-routing on tag
    changes are Steering's.  Administration comes before Steering, whose ``routing_config`` is only declared.
    """

    def __init__(self, store: Store, clock: Clock | None = None, ids: Callable[[], str] = new_id) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.ids = ids
        self.tallies = TallyCache()

    # -- reading ---------------------------------------------------------------

    async def get(self, actor: User, interaction_id: str) -> Interaction:
        ix = await self.store.get_interaction(interaction_id)
        machine.require_access(ix, actor)
        return ix

    async def list_interactions(
        self, actor: User, queue_id: str | None, state: State, limit: int = 100, offset: int = 0
    ) -> list[Interaction]:
        if queue_id is None:
            if actor.role is not Role.ADMIN:
                raise PermissionDenied("Name a queue: only admins list across every queue.")
        else:
            await self.store.get_queue(queue_id)
            if not actor.can_see_queue(queue_id):
                raise PermissionDenied(f"{actor.name} is not a member of queue {queue_id}.")
        return await self.store.list_interactions(queue_id, state, limit=limit, offset=offset)

    async def involving(self, actor: User) -> list[Interaction]:
        """Active interactions this user holds, is offered, or is consulted on, in any queue.

        A consulted user may not belong to the call's queue: queue lists miss it, and a console
        that reloads mid-consult finds it here.  Three index lookups by user, whatever the active set.
        """
        return await self.store.involving(actor.id)

    # -- commands ----------------------------------------------------------------

    async def _update(self, interaction_id: str, decide: Callable[[Interaction], Change]) -> Event:
        return await self.store.update(interaction_id, decide, self.clock.now())

    async def _with_queue(self, interaction_id: str, decide: Callable[[Interaction, Queue], Change]) -> Event:
        """For commands that read the interaction's queue settings (ring time, wrap-up limit)."""
        queue = await self.store.get_queue((await self.store.get_interaction(interaction_id)).queue_id)

        def step(ix: Interaction) -> Change:
            if ix.queue_id != queue.id:
                raise IllegalTransition(f"Interaction {ix.id} moved to queue {ix.queue_id} meanwhile; try again.")
            return decide(ix, queue)

        return await self._update(interaction_id, step)

    async def create(
        self,
        actor: User | None,
        *,
        queue_id: str,
        direction: Direction,
        type: CommType,
        subtype: Subtype,
        customer: Customer | None = None,
        tags: list[str] | None = None,
        subject: str | None = None,
        id: str | None = None,
    ) -> Event:
        queue = await self.store.get_queue(queue_id)
        if actor is not None and direction is Direction.OUTBOUND:
            await self.require_right(actor, Right.CREATE_OUTBOUND)
        change = machine.create(
            id=id or self.ids(),
            queue=queue,
            direction=direction,
            type=type,
            subtype=subtype,
            now=self.clock.now(),
            actor=actor,
            customer=customer,
            tags=tags,
            subject=subject,
        )
        return await self.store.insert(await self.linked(change), self.clock.now())

    async def clone(self, actor: User, interaction_id: str) -> Event:
        parent = await self.get(actor, interaction_id)  # membership, then the right, then the state (in the machine)
        await self.require_right(actor, Right.CLONE_COMPLETED)
        queue = await self.store.get_queue(parent.queue_id)
        change = machine.clone(parent, id=self.ids(), queue=queue, actor=actor, now=self.clock.now())
        return await self.store.insert(await self.linked(change, parent.customer.id), self.clock.now())

    async def offer(self, interaction_id: str, user_id: str) -> Event:
        user = await self.store.get_user(user_id)
        return await self._with_queue(
            interaction_id, lambda ix, q: machine.offer(ix, to=user, queue=q, now=self.clock.now())
        )

    async def decline(self, actor: User, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.decline(ix, actor=actor, now=self.clock.now()))

    async def _resolve(self, target: TransferTarget) -> tuple[Queue | None, User | None]:
        try:
            if target.kind is TargetKind.QUEUE:
                return await self.store.get_queue(target.id), None
            if target.kind is TargetKind.USER:
                return None, await self.store.get_user(target.id)
        except NotFound:
            raise NotFound(f"Transfer target {target.kind.value} {target.id} does not exist.") from None
        return None, None

    async def transfer(
        self,
        actor: User,
        interaction_id: str,
        target: TransferTarget,
        mode: TransferMode = TransferMode.COLD,
        note: str = "",
    ) -> Event:
        await self.get(
            actor, interaction_id
        )  # access before anything else: the target's existence is none of an outsider's business
        tq, tu = await self._resolve(target)
        return await self._with_queue(
            interaction_id,
            await self.with_right(
                actor,
                lambda ix: transfer_right(ix, target),
                lambda ix, q: machine.transfer(
                    ix,
                    actor=actor,
                    target=target,
                    mode=mode,
                    queue=q,
                    now=self.clock.now(),
                    target_queue=tq,
                    target_user=tu,
                    note=note,
                ),
            ),
        )

    async def complete_consult(self, actor: User, interaction_id: str) -> Event:
        ix = await self.get(actor, interaction_id)  # access before state, as in the machine
        if ix.consult is None:
            raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
        tq, tu = await self._resolve(ix.consult.target)
        return await self._with_queue(
            interaction_id,
            await self.with_right(
                actor,
                lambda ix: transfer_right(ix, ix.consult.target) if ix.consult else None,
                lambda ix, q: machine.complete_consult(
                    ix, actor=actor, queue=q, now=self.clock.now(), target_queue=tq, target_user=tu
                ),
            ),
        )

    async def join_consult(self, actor: User, interaction_id: str) -> Event:
        return await self._update(
            interaction_id, lambda ix: machine.join_consult(ix, actor=actor, now=self.clock.now())
        )

    async def requeue(self, interaction_id: str, reason: str, from_user: str | None = None) -> Event:
        return await self._update(
            interaction_id, lambda ix: machine.requeue(ix, reason=reason, now=self.clock.now(), from_user=from_user)
        )

    async def cancel_consult(self, actor: User, interaction_id: str) -> Event:
        return await self._update(
            interaction_id, lambda ix: machine.cancel_consult(ix, actor=actor, now=self.clock.now())
        )

    async def end(self, actor: User, interaction_id: str, outcome: Outcome) -> Event:
        return await self._update(
            interaction_id, lambda ix: machine.end(ix, actor=actor, outcome=outcome, now=self.clock.now())
        )

    async def complete(self, actor: User, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.complete(ix, actor=actor, now=self.clock.now()))

    async def edit(self, actor: User, interaction_id: str, changes: dict[str, Any]) -> Event:
        previous = (await self.store.get_interaction(interaction_id)).customer.id
        event = await self._update(
            interaction_id,
            await self.with_right(
                actor,
                lambda ix: Right.EDIT_COMPLETED if ix.state is State.COMPLETED else None,
                lambda ix: machine.edit(ix, actor=actor, changes=changes, now=self.clock.now()),
            ),
        )
        event = await self.relink(actor, event, previous) if "customer" in changes else event
        # Re-routing may send it to another queue: only for those who may (else the tags change and it stays).
        may_move = (await self.permissions()).has(actor.role, Right.TRANSFER_TO_QUEUE)
        return await self.reroute_after_edit(event, changes) if may_move else event
