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

from . import access, machine
from .call_state import CallState
from .clock import Clock, SystemClock
from .coaching_service import Coaching
from .customer_book import CustomerBook
from .directory import Directory
from .disconnects import Disconnects
from .errors import AlreadyExists, DomainError, IllegalTransition, NotFound, PermissionDenied
from .events import Change, Cursor, Event, EventPage, chat_audience, has_chat
from .floor import Floor, TallyCache
from .inbox import Inbox
from .merge_patch import merge_patch
from .model import (
    CommType,
    Customer,
    Direction,
    Interaction,
    Message,
    Note,
    Outcome,
    Recording,
    Role,
    State,
    Subtype,
    TargetKind,
    Transcript,
    TransferMode,
    TransferTarget,
    User,
)
from .permissions import Right, transfer_right
from .queues import Queue
from .rights import Rights
from .routing import Arrival, RoutingConfig
from .steering import Steering
from .stores.base import Store
from .text import clean_text
from .timers import Timers
from .transcripts import LiveTranscripts


def new_id() -> str:
    return uuid.uuid4().hex


class Sessions(
    Directory, CustomerBook, Coaching, Inbox, Floor, Rights, CallState, Disconnects, LiveTranscripts, Steering, Timers
):
    """Commands on interactions, administration, routing and timers; presence, offers and figures are the Floor's;
    claims within capacity, reachable user targets and re-routing on tag changes are Steering's."""

    def __init__(self, store: Store, clock: Clock | None = None, ids: Callable[[], str] = new_id) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.ids = ids
        self.tallies = TallyCache()

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

    async def configure_queue(self, actor: User, queue_id: str, patch: dict[str, Any]) -> Queue:
        """Applies a JSON Merge Patch (name, settings, tags, required_tags; the id stays), validated as a whole."""
        self._require_admin(actor)
        queue = await self.store.get_queue(queue_id)
        patch = {k: v for k, v in patch.items() if k != "id"}
        updated = Queue.model_validate(
            merge_patch(queue.model_dump(mode="json"), patch)
        )  # invalid: 422, nothing stored
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
        # In the log, so every process re-scopes (or, if disabled, closes) the user's open sockets.
        await self.store.publish(access.user_changed(user, self.clock.now()))
        return user

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

    async def events_for(self, actor: User, cursor: Cursor | None, limit: int = 500) -> EventPage:
        """The slice of the log this user is entitled to: their queues' and their own interactions'."""
        queues = None if actor.role is Role.ADMIN else set(actor.queues)
        return await self.store.events_since(
            cursor, queues=queues, users={actor.id}, role=actor.role.value, limit=limit
        )

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
        self, actor: User, interaction_id: str, target: TransferTarget, mode: TransferMode = TransferMode.COLD
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

    async def switch_channel(self, actor: User | None, interaction_id: str, type: CommType, subtype: Subtype) -> Event:
        return await self._with_queue(
            interaction_id,
            lambda ix, q: machine.switch_channel(
                ix, actor=actor, type=type, subtype=subtype, queue=q, now=self.clock.now()
            ),
        )

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
        message_id: str | None = None,
    ) -> Event:
        """An agent's reply (actor set, outbound) or a customer's message (actor None, inbound).

        A channel passes ``message_id`` derived from the provider's id, so a
        redelivered message is refused as a duplicate instead of added twice.
        The body is kept as :func:`clean_text` leaves it: never refused for its length or its bytes.
        """
        now = self.clock.now()
        body = clean_text(body)
        author = actor.id if actor else (machine.CUSTOMER if direction is Direction.INBOUND else machine.SYSTEM)
        msg_id = message_id or self.ids()

        def decide(ix: Interaction) -> Change:
            message = Message(
                id=msg_id,
                at=now,
                direction=direction,
                author=author,
                body=body,
                channel=channel or ix.subtype,
                provider_id=provider_id,
                status=status,
            )
            return machine.add_message(ix, message=message, actor=actor, now=now)

        return await self._update(interaction_id, decide)

    async def update_message_status(
        self,
        interaction_id: str,
        message_id: str,
        status: str,
        error_code: str | None = None,
        provider_id: str | None = None,
    ) -> Event:
        return await self._update(
            interaction_id,
            lambda ix: machine.update_message_status(
                ix,
                message_id=message_id,
                status=status,
                error_code=error_code,
                provider_id=provider_id,
                now=self.clock.now(),
            ),
        )

    async def mark_read(self, reader: User | None, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.mark_read(ix, reader=reader, now=self.clock.now()))

    async def signal(self, interaction_id: str, type: str, data: dict[str, Any]) -> Event:
        """An ephemeral, state-free event about an interaction (typing), fanned out like the others."""
        ix = await self.store.get_interaction(interaction_id)
        users = [u for u in (ix.assigned_to, ix.offered_to) if u] + ([chat_audience(ix.id)] if has_chat(ix) else [])
        return await self.store.publish(
            Event(
                type=type,
                at=self.clock.now(),
                queues=[ix.queue_id],
                users=users,
                data={"interaction_id": ix.id, **data},
            )
        )

    async def add_note(self, actor: User, interaction_id: str, body: str, disposition: str | None = None) -> Event:
        note = Note(id=self.ids(), at=self.clock.now(), author=actor.id, body=clean_text(body))
        return await self._update(
            interaction_id,
            lambda ix: machine.add_note(ix, actor=actor, note=note, disposition=disposition, now=self.clock.now()),
        )

    async def attach_recording(self, interaction_id: str, recording: Recording) -> Event:
        return await self._update(
            interaction_id, lambda ix: machine.attach_recording(ix, recording=recording, now=self.clock.now())
        )

    async def attach_transcript(self, interaction_id: str, transcript: Transcript) -> Event:
        """The provider's transcription of a recording, kept as :func:`clean_text` leaves it."""
        transcript = transcript.model_copy(update={"text": clean_text(transcript.text)})
        return await self._update(
            interaction_id, lambda ix: machine.attach_transcript(ix, transcript=transcript, now=self.clock.now())
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

    async def abandon(self, interaction_id: str) -> Event:
        return await self._update(interaction_id, lambda ix: machine.abandon(ix, now=self.clock.now()))

    async def provider_status(self, interaction_id: str, *, kind: str, status: str, detail: str, **data: Any) -> Event:
        """``kind`` names a :class:`machine.ProviderReport`; any other is a programming error (ValueError)."""
        report = machine.ProviderReport(kind)
        return await self._update(
            interaction_id,
            lambda ix: machine.provider_status(
                ix, kind=report, status=status, detail=detail, now=self.clock.now(), **data
            ),
        )

    async def recording_stored(self, interaction_id: str, recording_id: str, uri: str) -> Event:
        return await self._update(
            interaction_id,
            lambda ix: machine.recording_stored(ix, recording_id=recording_id, uri=uri, now=self.clock.now()),
        )

    # -- routing -------------------------------------------------------------------

    async def routing_config(self) -> RoutingConfig:
        raw = (await self.store.map_all("config")).get("routing")
        return RoutingConfig.model_validate_json(raw) if raw else RoutingConfig()

    async def read_routing_config(self, actor: User) -> RoutingConfig:
        """The routing configuration, for supervisors and admins: it shows every queue and keyword, which agents need not see."""
        if actor.role is Role.AGENT:
            raise PermissionDenied(
                f"Only supervisors and admins read the routing configuration; {actor.name} is an agent."
            )
        return await self.routing_config()

    async def set_routing_config(self, actor: User, config: RoutingConfig) -> RoutingConfig:
        self._require_admin(actor)
        if config.default_queue is not None:
            await self.store.get_queue(config.default_queue)
        await self.store.map_set("config", "routing", config.model_dump_json())
        return config

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
            raise NotFound(
                "No queue matches this contact and no default queue is configured; an admin must set one under routing."
            )
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
