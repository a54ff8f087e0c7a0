"""Coaching commands and reads: ``Sessions`` inherits them (the rules are ``coaching.py``'s).

The store keeps forms and evaluations (``stores/sql/coaching.py``) and commits an evaluation
with its audit entry and event in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import coaching, machine
from .clock import Clock
from .coaching import Evaluation, EvaluationForm, FormDraft, Summary
from .errors import AlreadyExists, ConcurrentUpdate, NotFound, PermissionDenied
from .events import Event
from .model import User
from .permissions import Right
from .stores.base import MAX_ATTEMPTS, Store
from .text import clean_text


class Coaching:
    store: Store
    clock: Clock
    ids: Callable[[], str]

    async def require_evaluator(self, actor: User, queue_id: str) -> None:
        """The one check of who may evaluate a queue's interactions and edit its form:
        a member (or admin) with the ``evaluate`` right."""
        coaching.require_evaluator(actor, queue_id)
        await self.require_right(actor, Right.EVALUATE)  # type: ignore[attr-defined]  # Sessions' Rights mixin

    async def evaluates(self, actor: User) -> bool:
        """Whether ``actor``'s role has the ``evaluate`` right now (reading a queue's evaluations follows it)."""
        return (await self.permissions()).has(actor.role, Right.EVALUATE)  # type: ignore[attr-defined,no-any-return]  # Sessions' Rights mixin

    async def evaluation_form(self, actor: User, queue_id: str, version: int | None = None) -> EvaluationForm:
        """The queue's form (latest, or a given version) for its members: agents may read what they are evaluated on."""
        await self.store.get_queue(queue_id)
        if not actor.can_see_queue(queue_id):
            raise PermissionDenied(f"{actor.name} is not a member of queue {queue_id}.")
        form = await self.store.get_evaluation_form(queue_id, version)  # type: ignore[attr-defined]
        if form is None:
            which = f"version {version} of an evaluation form" if version is not None else "an evaluation form yet"
            raise NotFound(f"Queue {queue_id} has no {which}.")
        return form

    async def set_evaluation_form(self, actor: User, queue_id: str, draft: FormDraft) -> EvaluationForm:
        """Saves the next version of the queue's form; evaluations made on earlier versions keep theirs."""
        await self.store.get_queue(queue_id)
        await self.require_evaluator(actor, queue_id)
        for _ in range(MAX_ATTEMPTS):
            previous = await self.store.get_evaluation_form(queue_id)  # type: ignore[attr-defined]
            form = coaching.new_form(actor, queue_id, draft, previous, self.clock.now())
            try:
                await self.store.add_evaluation_form(form)  # type: ignore[attr-defined]
                return form
            except AlreadyExists:
                continue  # another save took this version meanwhile: decide again on it, never replace it
        raise ConcurrentUpdate(f"The evaluation form of queue {queue_id} kept changing underneath; try again.")

    async def evaluate(
        self, actor: User, interaction_id: str, answers: dict[str, Any], notes: str = ""
    ) -> tuple[Event, Evaluation]:
        ix = await self.store.get_interaction(interaction_id)
        machine.require_access(ix, actor)  # outsiders learn nothing about it, not even whether it is completed
        await self.require_evaluator(actor, ix.queue_id)  # the right before the state
        coaching.require_evaluable(ix, actor)
        form = await self.store.get_evaluation_form(ix.queue_id)  # type: ignore[attr-defined]
        new_id, now = self.ids(), self.clock.now()
        return await self.store.record_evaluation(  # type: ignore[attr-defined,no-any-return]
            interaction_id,
            lambda cur, _: coaching.evaluate(
                cur, actor=actor, id=new_id, form=form, answers=answers, notes=clean_text(notes), now=now
            ),
        )

    async def revise_evaluation(
        self, actor: User, evaluation_id: str, answers: dict[str, Any] | None, notes: str | None
    ) -> tuple[Event, Evaluation]:
        current = await self.store.get_evaluation(evaluation_id)  # type: ignore[attr-defined]
        if not coaching.may_read(actor, current, await self.evaluates(actor)):
            raise NotFound(
                f"Evaluation {evaluation_id} does not exist."
            )  # others' evaluations are not theirs to know about
        await self.require_evaluator(actor, current.queue_id)
        now, notes = self.clock.now(), None if notes is None else clean_text(notes)
        return await self.store.record_evaluation(  # type: ignore[attr-defined,no-any-return]
            current.interaction_id,
            lambda ix, latest: coaching.revise(ix, latest, actor=actor, answers=answers, notes=notes, now=now),
            evaluation_id,
        )

    async def evaluations_of(self, actor: User, interaction_id: str) -> list[Evaluation]:
        """An interaction's evaluations that ``actor`` may read
        (the agent evaluated and the evaluator theirs, those with the evaluate right all)."""
        ix = await self.store.get_interaction(interaction_id)
        machine.require_access(ix, actor)
        found = await self.store.list_evaluations(interaction_id=interaction_id)  # type: ignore[attr-defined]
        evaluates = await self.evaluates(actor)
        return [e for e in found if coaching.may_read(actor, e, evaluates)]

    async def evaluations(self, actor: User, agent: str | None = None, queue: str | None = None) -> list[Evaluation]:
        scope = coaching.reading_scope(actor, agent, queue, await self.evaluates(actor))
        return await self.store.list_evaluations(
            agent=scope.agent,
            queue=scope.queue,
            queues=scope.queues,  # type: ignore[attr-defined,no-any-return]
            involving=scope.involving,
        )

    async def evaluation_summary(self, actor: User, queue: str | None = None) -> Summary:
        if queue is not None:
            await self.store.get_queue(queue)
        return await self.store.evaluation_summary(coaching.summary_scope(actor, queue, await self.evaluates(actor)))  # type: ignore[attr-defined,no-any-return]
