"""Coaching: each queue's evaluation form, evaluations of completed interactions, and their roll-ups.

Who may do what is the core's (``sessions.coaching``): members of the queue with the ``evaluate``
right (supervisors and admins by default) evaluate and read roll-ups; the agent evaluated and the
evaluator always read theirs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sessions.coaching import Answers, Evaluation, EvaluationForm, FormDraft, Notes, Summary

from ..operations import Call, Operations
from ..schemas import Body

ops = Operations("coaching")

Id = Annotated[str, Field(min_length=1, max_length=64)]


class FormQuery(Body):
    #: A past version of the form (evaluations keep the version they were scored on); none: the latest.
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class NewEvaluation(Body):
    #: Question id -> true/false (yes/no questions) or 0..max points; every question of the queue's current form.
    answers: Answers
    notes: Notes = ""


class EvaluationPatch(Body):
    #: Merged into the current answers: send only those that change.
    answers: Answers | None = None
    notes: Notes | None = None


class EvaluationQuery(Body):
    agent: Id | None = None
    queue: Id | None = None


class SummaryQuery(Body):
    queue: Id | None = None


@ops("GET", "/api/queues/{queue_id}/evaluation-form", query=FormQuery, response=EvaluationForm)
async def get_evaluation_form(call: Call) -> EvaluationForm:
    """The queue's evaluation form (latest, or ``?version=``), for its members."""
    return await call.sessions.evaluation_form(call.user, call.path["queue_id"], call.query.version)


@ops("PUT", "/api/queues/{queue_id}/evaluation-form", body=FormDraft, response=EvaluationForm)
async def put_evaluation_form(call: Call) -> EvaluationForm:
    """Saves a new version of the queue's form (members of the queue with the evaluate right);
    past evaluations keep their version."""
    return await call.sessions.set_evaluation_form(call.user, call.path["queue_id"], call.body)


@ops("POST", "/api/interactions/{interaction_id}/evaluations", body=NewEvaluation, response=Evaluation, status=201)
async def evaluate(call: Call) -> Evaluation:
    """Scores a completed interaction on its queue's form,
    with coaching notes (members of the queue with the evaluate right)."""
    b: NewEvaluation = call.body
    return (await call.sessions.evaluate(call.user, call.path["interaction_id"], b.answers, b.notes))[1]


@ops("GET", "/api/interactions/{interaction_id}/evaluations", response=list[Evaluation])
async def interaction_evaluations(call: Call) -> list[Evaluation]:
    """The interaction's evaluations the caller may read
    (the agent evaluated, the queue's supervisors), newest first."""
    return await call.sessions.evaluations_of(call.user, call.path["interaction_id"])


@ops("GET", "/api/evaluations/summary", query=SummaryQuery, response=Summary)
async def evaluation_summary(call: Call) -> Summary:
    """Counts and average scores per agent and per queue over the caller's queues (with the evaluate right)."""
    return await call.sessions.evaluation_summary(call.user, call.query.queue)


@ops("GET", "/api/evaluations", query=EvaluationQuery, response=list[Evaluation])
async def list_evaluations(call: Call) -> list[Evaluation]:
    """Evaluations, newest first: an agent's own; a supervisor's queues'; filtered by agent and queue."""
    q: EvaluationQuery = call.query
    return await call.sessions.evaluations(call.user, q.agent, q.queue)


@ops("PATCH", "/api/evaluations/{evaluation_id}", body=EvaluationPatch, response=Evaluation)
async def revise_evaluation(call: Call) -> Evaluation:
    """Changes an evaluation's answers (merged) or notes, scored again on the form version it was made with; audited."""
    b: EvaluationPatch = call.body
    return (await call.sessions.revise_evaluation(call.user, call.path["evaluation_id"], b.answers, b.notes))[1]
