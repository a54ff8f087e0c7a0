"""Coaching: evaluation forms per queue, scoring a completed interaction, and who may do it.

Pure rules, no I/O.  A queue's form is a list of weighted questions; each save makes a new
*version*, and an evaluation keeps the questions of the version it was scored on, so editing the
form later never changes an old score.  An answer counts as a fraction of its question's points
(yes = 1, no = 0; ``n`` of ``max`` points = n/max); the score is the weighted mean of those
fractions on 0..100.

Evaluating is recorded on the interaction as a feed entry (an audit of who evaluated it and when),
never as a change to what happened: completion fields, outcome and assignee stay exactly as they
were.  The score itself is not written into the feed, which every member of the queue can read;
it travels only to the queue's supervisors, the agent evaluated and the evaluator.  Reading a queue's evaluations
follows the ``evaluate`` right (not the role); the agent evaluated and the evaluator always read theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt, model_validator

from .errors import IllegalTransition, InvalidCommand, PermissionDenied
from .events import Event, EventType
from .model import ActivityEntry, Interaction, Model, Role, State, User

#: Who the feed never names as the agent evaluated: nobody handled an interaction they completed.
NOT_AGENTS = frozenset({"customer", "system"})


class Scale(StrEnum):
    YES_NO = "yes_no"  # answered true / false
    POINTS = "points"  # answered 0..max


class Question(Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    text: str = Field(min_length=1, max_length=500)
    weight: float = Field(gt=0, le=1000)
    scale: Scale = Scale.POINTS
    #: Highest answer of a points question (0..max); ignored for yes/no.
    max: int = Field(5, ge=1, le=100)


class FormDraft(Model):
    """What a supervisor submits: the questions, in the order they are asked."""

    questions: list[Question] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _unique_ids(self) -> FormDraft:
        ids = [q.id for q in self.questions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"question ids must be unique; repeated: {', '.join(duplicates)}")
        return self


class EvaluationForm(FormDraft):
    """One saved version of a queue's form."""

    queue_id: str
    version: int = Field(ge=1)
    created_at: datetime
    created_by: str


#: An answer: true/false for yes/no questions, a whole number of points for points questions.
Answer = bool | int
#: Answers as a request carries them: no coercion ("3" is not 3),
#: ranges checked against the form by ``validate_answers``.
Answers = Annotated[dict[Annotated[str, Field(max_length=64)], StrictBool | StrictInt], Field(max_length=50)]
Notes = Annotated[str, Field(max_length=10_000)]


class Evaluation(Model):
    id: str
    interaction_id: str
    queue_id: str
    #: The user whose work is evaluated: who completed the interaction (or, failing that, its assignee).
    agent: str
    evaluator: str
    form_version: int
    #: The questions of ``form_version`` as they were: the score is always recomputed from these.
    questions: list[Question]
    answers: dict[str, Answer]
    score: float
    notes: Notes = ""
    created_at: datetime
    updated_at: datetime
    updated_by: str


class AgentRollup(Model):
    agent: str
    count: int
    average: float


class QueueRollup(Model):
    queue_id: str
    count: int
    average: float


class Summary(Model):
    agents: list[AgentRollup]
    queues: list[QueueRollup]


# -- forms ------------------------------------------------------------------------------


def require_evaluator(actor: User, queue_id: str) -> None:
    """Who may evaluate a queue's interactions and edit its form, as far as membership goes: its members, and admins.

    Called from one place only, ``Coaching.require_evaluator`` in the service, which adds the
    configurable ``evaluate`` right (supervisors and admins by default); the rules here check
    membership and state, never rights.
    """
    if not actor.can_see_queue(queue_id):
        raise PermissionDenied(f"{actor.name} is not a member of queue {queue_id}.")


def new_form(
    actor: User, queue_id: str, draft: FormDraft, previous: EvaluationForm | None, now: datetime
) -> EvaluationForm:
    """The next version of the queue's form;
    earlier versions stay as they were (who may save it: ``require_evaluator``)."""
    return EvaluationForm(
        queue_id=queue_id,
        version=(previous.version + 1) if previous else 1,
        questions=draft.questions,
        created_at=now,
        created_by=actor.id,
    )


# -- scoring ----------------------------------------------------------------------------


def validate_answers(questions: list[Question], answers: dict[str, Any]) -> dict[str, Answer]:
    """Every question answered once, on its scale; raises InvalidCommand naming what is wrong."""
    known = {q.id: q for q in questions}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise InvalidCommand(f"No such question on this form: {', '.join(unknown)}.")
    missing = [q.id for q in questions if q.id not in answers]
    if missing:
        raise InvalidCommand(f"Answer every question; missing: {', '.join(missing)}.")
    clean: dict[str, Answer] = {}
    for q in questions:
        value = answers[q.id]
        if q.scale is Scale.YES_NO:
            if not isinstance(value, bool):
                raise InvalidCommand(f"Question {q.id} is answered yes or no (true or false), not {value!r}.")
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= q.max:
            raise InvalidCommand(f"Question {q.id} is answered with a whole number from 0 to {q.max}, not {value!r}.")
        clean[q.id] = value
    return clean


def fraction(question: Question, answer: Answer) -> float:
    """How much of the question's weight the answer earns, 0..1."""
    if question.scale is Scale.YES_NO:
        return 1.0 if answer else 0.0
    return int(answer) / question.max


def score(questions: list[Question], answers: dict[str, Answer]) -> float:
    """The weighted score on 0..100, to two decimals."""
    total = sum(q.weight for q in questions)
    earned = sum(q.weight * fraction(q, answers[q.id]) for q in questions)
    return round(100 * earned / total, 2)


# -- evaluating an interaction ----------------------------------------------------------


def agent_of(ix: Interaction) -> str | None:
    """Whose work a completed interaction is: who completed it, else who held it; None if nobody did."""
    for who in (ix.completed_by, ix.assigned_to):
        if who and who not in NOT_AGENTS:
            return who
    return None


@dataclass(frozen=True)
class Verdict:
    """An evaluation to store, with the interaction carrying its audit entry and the event recording both."""

    evaluation: Evaluation
    interaction: Interaction
    event: Event
    created: bool


def _audited(ix: Interaction, entry: ActivityEntry) -> Interaction:
    """The next version of ``ix`` with one more feed entry and nothing else changed."""
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    nxt.activity.append(entry)
    return nxt


def _event(kind: EventType, ix: Interaction, evaluation: Evaluation, now: datetime, **data: Any) -> Event:
    """Addressed to the queue's supervisors and admins,
    the agent evaluated and the evaluator, not to their peers nor the customer."""
    return Event(
        type=kind,
        at=now,
        interaction=ix,
        queues=[ix.queue_id],
        users=[evaluation.agent, evaluation.evaluator],
        roles=[Role.SUPERVISOR.value, Role.ADMIN.value],
        data={
            "evaluation_id": evaluation.id,
            "agent": evaluation.agent,
            "evaluator": evaluation.evaluator,
            "score": evaluation.score,
            "form_version": evaluation.form_version,
            **data,
        },
    )


def require_evaluable(ix: Interaction, actor: User) -> str:
    """Whether the interaction can be evaluated by ``actor`` now; returns the agent evaluated.

    The caller checked the right first (someone who may not evaluate never learns the state).
    """
    if ix.state is not State.COMPLETED:
        raise IllegalTransition(
            f"Interaction {ix.id} is still {ix.status.value}: only completed interactions are evaluated."
        )
    if ix.merged_into:
        # Its conversation went on in the survivor,
        # and the merge completed it as the merger's: scoring it would score them.
        raise IllegalTransition(
            f"Interaction {ix.id} was merged into interaction {ix.merged_into}: "
            "evaluate that one, which holds the whole conversation."
        )
    agent = agent_of(ix)
    if agent is None:
        raise IllegalTransition(
            f"Nobody handled interaction {ix.id} (the customer left before an agent took it): "
            "there is no one to evaluate."
        )
    if agent == actor.id:
        raise PermissionDenied(f"{actor.name} handled interaction {ix.id}: nobody evaluates their own work.")
    return agent


def evaluate(
    ix: Interaction,
    *,
    actor: User,
    id: str,
    form: EvaluationForm | None,
    answers: dict[str, Any],
    notes: str,
    now: datetime,
) -> Verdict:
    agent = require_evaluable(ix, actor)
    if form is None:
        raise IllegalTransition(f"Queue {ix.queue_id} has no evaluation form yet: a supervisor sets one first.")
    clean = validate_answers(form.questions, answers)
    evaluation = Evaluation(
        id=id,
        interaction_id=ix.id,
        queue_id=ix.queue_id,
        agent=agent,
        evaluator=actor.id,
        form_version=form.version,
        questions=form.questions,
        answers=clean,
        score=score(form.questions, clean),
        notes=notes,
        created_at=now,
        updated_at=now,
        updated_by=actor.id,
    )
    nxt = _audited(
        ix,
        ActivityEntry(
            at=now,
            kind="evaluated",
            by=actor.id,
            detail=f"Evaluated by {actor.name} (form version {form.version})",
            data={"evaluation_id": id, "agent": agent, "form_version": form.version},
        ),
    )
    return Verdict(evaluation, nxt, _event(EventType.EVALUATED, nxt, evaluation, now), True)


def revise(
    ix: Interaction,
    current: Evaluation,
    *,
    actor: User,
    answers: dict[str, Any] | None,
    notes: str | None,
    now: datetime,
) -> Verdict:
    """Changes an evaluation's answers or notes, scored again on the form version it was made with."""
    require_evaluable(ix, actor)
    if current.interaction_id != ix.id:
        raise InvalidCommand(f"Evaluation {current.id} is not about interaction {ix.id}.")
    changes: dict[str, Any] = {}
    if answers is not None:  # merged into the current answers (PATCH semantics): send only what changes
        clean = validate_answers(current.questions, {**current.answers, **answers})
        if clean != current.answers:
            changes.update(answers=clean, score=score(current.questions, clean))
    if notes is not None and notes != current.notes:
        changes["notes"] = notes
    if not changes:
        raise InvalidCommand("The change changes nothing: send different answers or notes.")
    evaluation = current.model_copy(
        update={**changes, "updated_at": now, "updated_by": actor.id}
    )  # each part validated above
    fields = sorted(k for k in changes if k != "score")
    nxt = _audited(
        ix,
        ActivityEntry(
            at=now,
            kind="reevaluated",
            by=actor.id,
            detail=f"Evaluation changed by {actor.name}: {', '.join(fields)}",
            data={"evaluation_id": current.id, "agent": current.agent, "fields": fields},
        ),
    )
    return Verdict(evaluation, nxt, _event(EventType.REEVALUATED, nxt, evaluation, now, fields=fields), False)


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which evaluations a listing shows: ``agent`` and ``queue`` filter; of those, the ones in ``queues`` (None: every
    queue) or, when ``involving`` is set, also the ones that user is the agent evaluated or the evaluator of."""

    agent: str | None
    queue: str | None
    queues: set[str] | None
    involving: str | None


def may_read(actor: User, evaluation: Evaluation, evaluates: bool) -> bool:
    """The agent evaluated and the evaluator always read it;
    whoever has the ``evaluate`` right (``evaluates``) reads their queues'."""
    if actor.id in (evaluation.agent, evaluation.evaluator):
        return True
    return evaluates and actor.can_see_queue(evaluation.queue_id)


def reading_scope(actor: User, agent: str | None, queue: str | None, evaluates: bool) -> Scope:
    """What a listing of ``actor`` shows (see ``may_read``); raises PermissionDenied for what they may not ask for.

    Reading a queue's evaluations follows the ``evaluate`` right, not the role: a supervisor whose right
    was taken reads only their own, an agent granted it reads their queues'.
    """
    if queue is not None and not actor.can_see_queue(queue):
        raise PermissionDenied(f"{actor.name} is not a member of queue {queue}.")
    if evaluates:
        return Scope(agent, queue, None if actor.role is Role.ADMIN else set(actor.queues), actor.id)
    if agent is not None and agent != actor.id:
        raise PermissionDenied(
            f"{actor.name} does not evaluate (the right evaluate) and sees only their own evaluations: "
            "of their work, or written by them."
        )
    return Scope(agent, queue, set(), actor.id)


def summary_scope(actor: User, queue: str | None, evaluates: bool) -> set[str] | None:
    """Roll-ups are for those with the ``evaluate`` right, over the queues they see (None: every queue)."""
    if not evaluates:
        raise PermissionDenied(
            f"Only users with the right evaluate see evaluation roll-ups; {actor.name} reads their own evaluations."
        )
    if queue is not None:
        if not actor.can_see_queue(queue):
            raise PermissionDenied(f"{actor.name} is not a member of queue {queue}.")
        return {queue}
    return None if actor.role is Role.ADMIN else set(actor.queues)
