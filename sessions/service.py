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
from .clock import Clock, SystemClock
from .errors import AlreadyExists, DomainError, IllegalTransition, NotFound, PermissionDenied
from .events import Cursor, Event, EventPage
from .machine import Change
from .model import (
    CommType,
    Customer,
    Direction,
    Interaction,
    Message,
    Note,
    Outcome,
    Queue,
    QueueSettings,
    Recording,
    Role,
    State,
    Status,
    Subtype,
    TargetKind,
    Transcript,
    TransferMode,
    TransferTarget,
    User,
)
from .stores.base import Store


def new_id() -> str:
    return uuid.uuid4().hex


class Sessions:
    def __init__(self, store: Store, clock: Clock | None = None, ids: Callable[[], str] = new_id) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.ids = ids

    # -- administration ------------------------------------------------------

    @staticmethod
    def _require_admin(actor: User) -> None:
        if actor.role is not Role.ADMIN:
            raise PermissionDenied(f"Only admins can do this; {actor.name} is {actor.role.value}.")

    async def create_queue(self, actor: User, queue: Queue) -> Queue:
        self._require_admin(actor)
        try:
            await self.store.get_queue(queue.id)
        except NotFound:
            await self.store.put_queue(queue)
            return queue
        raise AlreadyExists(f"Queue {queue.id} already exists.")

    async def configure_queue(self, actor: User, queue_id: str, settings: QueueSettings, name: str | None = None) -> Queue:
        self._require_admin(actor)
        queue = await self.store.get_queue(queue_id)
        updated = queue.model_copy(update={"settings": settings, "name": name or queue.name})
        await self.store.put_queue(updated)
        return updated

    async def queues_for(self, actor: User) -> list[Queue]:
        return [q for q in await self.store.list_queues() if actor.can_see_queue(q.id)]

    async def save_user(self, actor: User, user: User) -> User:
        """Creates or replaces a user; every queue it is put in must exist."""
        self._require_admin(actor)
        for qid in user.queues:
            await self.store.get_queue(qid)
        await self.store.put_user(user)
        return user

    # -- reading ---------------------------------------------------------------

    async def get(self, actor: User, interaction_id: str) -> Interaction:
        ix = await self.store.get_interaction(interaction_id)
        machine.require_access(ix, actor)
        return ix

    async def list_interactions(self, actor: User, queue_id: str | None, state: State, limit: int = 100, offset: int = 0) -> list[Interaction]:
        if queue_id is None:
            if actor.role is not Role.ADMIN:
                raise PermissionDenied("Name a queue: only admins list across every queue.")
        else:
            await self.store.get_queue(queue_id)
            if not actor.can_see_queue(queue_id):
                raise PermissionDenied(f"{actor.name} is not a member of queue {queue_id}.")
        return await self.store.list_interactions(queue_id, state, limit=limit, offset=offset)

    async def events_for(self, actor: User, cursor: Cursor | None, limit: int = 500) -> EventPage:
        """The slice of the log this user is entitled to: their queues' and their own interactions'."""
        queues = None if actor.role is Role.ADMIN else set(actor.queues)
        return await self.store.events_since(cursor, queues=queues, users={actor.id}, limit=limit)

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
        change = machine.create(
            id=id or self.ids(), queue=queue, direction=direction, type=type, subtype=subtype, now=self.clock.now(),
            actor=actor, customer=customer, tags=tags, subject=subject,
        )
        return await self.store.insert(change, self.clock.now())

    async def clone(self, actor: User, interaction_id: str) -> Event:
        parent = await self.store.get_interaction(interaction_id)
        queue = await self.store.get_queue(parent.queue_id)
        change = machine.clone(parent, id=self.ids(), queue=queue, actor=actor, now=self.clock.now())
        return await self.store.insert(change, self.clock.now())

    async def offer(self, interaction_id: str, user_id: str) -> Event:
        user = await self.store.get_user(user_id)
        return await self._with_queue(interaction_id, lambda ix, q: machine.offer(ix, to=user, queue=q, now=self.clock.now()))

    async def decline(self, actor: User, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.decline(ix, actor=actor, now=self.clock.now()))

    async def claim(self, actor: User, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.claim(ix, actor=actor, now=self.clock.now()))

    async def _resolve(self, target: TransferTarget) -> tuple[Queue | None, User | None]:
        try:
            if target.kind is TargetKind.QUEUE:
                return await self.store.get_queue(target.id), None
            if target.kind is TargetKind.USER:
                return None, await self.store.get_user(target.id)
        except NotFound:
            raise NotFound(f"Transfer target {target.kind.value} {target.id} does not exist.") from None
        return None, None

    async def transfer(self, actor: User, interaction_id: str, target: TransferTarget, mode: TransferMode = TransferMode.COLD) -> Event:
        tq, tu = await self._resolve(target)
        return await self._with_queue(
            interaction_id,
            lambda ix, q: machine.transfer(ix, actor=actor, target=target, mode=mode, queue=q, now=self.clock.now(), target_queue=tq, target_user=tu),
        )

    async def complete_consult(self, actor: User, interaction_id: str) -> Event:
        ix = await self.store.get_interaction(interaction_id)
        if ix.consult is None:
            raise IllegalTransition(f"Interaction {ix.id} has no consult in progress.")
        tq, tu = await self._resolve(ix.consult.target)
        return await self._with_queue(
            interaction_id,
            lambda ix, q: machine.complete_consult(ix, actor=actor, queue=q, now=self.clock.now(), target_queue=tq, target_user=tu),
        )

    async def cancel_consult(self, actor: User, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.cancel_consult(ix, actor=actor, now=self.clock.now()))

    async def switch_channel(self, actor: User | None, interaction_id: str, type: CommType, subtype: Subtype) -> Event:
        return await self._update(interaction_id, lambda ix: machine.switch_channel(ix, actor=actor, type=type, subtype=subtype, now=self.clock.now()))

    async def add_message(
        self,
        actor: User | None,
        interaction_id: str,
        *,
        direction: Direction,
        body: str,
        channel: Subtype | None = None,
        provider_id: str | None = None,
        status: str | None = None,
    ) -> Event:
        """An agent's reply (actor set, outbound) or a customer's message (actor None, inbound)."""
        now = self.clock.now()
        author = actor.id if actor else (machine.CUSTOMER if direction is Direction.INBOUND else machine.SYSTEM)
        msg_id = self.ids()

        def decide(ix: Interaction) -> Change:
            message = Message(id=msg_id, at=now, direction=direction, author=author, body=body, channel=channel or ix.subtype, provider_id=provider_id, status=status)
            return machine.add_message(ix, message=message, actor=actor, now=now)

        return await self._update(interaction_id, decide)

    async def update_message_status(self, interaction_id: str, message_id: str, status: str, error_code: str | None = None) -> Event:
        return await self._update(interaction_id, lambda ix: machine.update_message_status(ix, message_id=message_id, status=status, error_code=error_code, now=self.clock.now()))

    async def add_note(self, actor: User, interaction_id: str, body: str, disposition: str | None = None) -> Event:
        note = Note(id=self.ids(), at=self.clock.now(), author=actor.id, body=body)
        return await self._update(interaction_id, lambda ix: machine.add_note(ix, actor=actor, note=note, disposition=disposition, now=self.clock.now()))

    async def attach_recording(self, interaction_id: str, recording: Recording) -> Event:
        return await self._update(interaction_id, lambda ix: machine.attach_recording(ix, recording=recording, now=self.clock.now()))

    async def attach_transcript(self, interaction_id: str, transcript: Transcript) -> Event:
        return await self._update(interaction_id, lambda ix: machine.attach_transcript(ix, transcript=transcript, now=self.clock.now()))

    async def end(self, actor: User, interaction_id: str, outcome: Outcome) -> Event:
        return await self._update(interaction_id, lambda ix: machine.end(ix, actor=actor, outcome=outcome, now=self.clock.now()))

    async def complete(self, actor: User, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.complete(ix, actor=actor, now=self.clock.now()))

    async def edit(self, actor: User, interaction_id: str, changes: dict[str, Any]) -> Event:
        return await self._update(interaction_id, lambda ix: machine.edit(ix, actor=actor, changes=changes, now=self.clock.now()))

    # -- timers ------------------------------------------------------------------

    async def run_timers(self) -> list[Event]:
        """Expires unanswered offers and auto-completes wrap-ups past their limit.

        Safe to run from every process at once: each step is a normal
        versioned update, and the state machine refuses a timer that another
        process (or a person) has already overtaken.
        """
        now = self.clock.now()
        queues = {q.id: q for q in await self.store.list_queues()}
        fired: list[Event] = []
        for ix in await self.store.list_interactions(None, State.ACTIVE, limit=100_000):
            queue = queues.get(ix.queue_id)
            due: Callable[[Interaction], Change] | None = None
            if ix.status is Status.PENDING and ix.offer_expires_at is not None and now >= ix.offer_expires_at:
                due = lambda cur: machine.expire_offer(cur, now=now)  # noqa: E731
            elif queue is not None and (deadline := machine.wrap_up_deadline(ix, queue)) is not None and now >= deadline:
                due = lambda cur, q=queue: machine.auto_complete(cur, queue=q, now=now)  # noqa: E731
            if due is None:
                continue
            try:
                fired.append(await self.store.update(ix.id, due, now))
            except DomainError:
                continue  # overtaken: claimed, completed or moved meanwhile
        return fired
