"""Evaluation forms and evaluations in SQL; roll-ups as aggregates over an index.

Every version of a queue's form is kept (``evaluation_forms``, keyed by queue and version).  An
evaluation is a row with the columns its listings and roll-ups filter and group on, plus its
document.  Recording one is a single transaction with the interaction's audit entry and the event
(``SqlStore._commit`` with an extra write), under the interaction's version check: two supervisors
changing evaluations of one interaction at once are serialised by it, so the evaluation row never
disagrees with the feed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...coaching import AgentRollup, Evaluation, EvaluationForm, QueueRollup, Summary, Verdict
from ...errors import AlreadyExists, ConcurrentUpdate, NotFound
from ...events import Event
from ...model import Interaction
from ..base import MAX_ATTEMPTS
from .engine import Database
from .schema import Time, metadata

evaluation_forms = Table(
    "evaluation_forms",
    metadata,
    Column("queue_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", Time, nullable=False),
    Column("doc", Text, nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("interaction_id", String(64), nullable=False),
    Column("queue_id", String(64), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("evaluator", String(64), nullable=False),
    Column("score", Float(precision=53), nullable=False),
    Column("form_version", Integer, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_evaluations_interaction", "interaction_id", "created_at"),
    # Listings per agent or per queue, newest first; the roll-ups read (queue, agent, score) from the index alone.
    Index("ix_evaluations_agent", "agent", "created_at"),
    Index("ix_evaluations_queue", "queue_id", "created_at"),
    Index("ix_evaluations_rollup", "queue_id", "agent", "score"),
)

#: Most evaluations one listing returns.
LIST_LIMIT = 500


def _row(e: Evaluation) -> dict[str, Any]:
    return {
        "id": e.id,
        "interaction_id": e.interaction_id,
        "queue_id": e.queue_id,
        "agent": e.agent,
        "evaluator": e.evaluator,
        "score": e.score,
        "form_version": e.form_version,
        "created_at": e.created_at.timestamp(),
        "doc": e.model_dump_json(),
    }


class CoachingStore:
    """Mixin for SqlStore."""

    db: Database

    # SqlStore's own:
    get_interaction: Callable[[str], Awaitable[Interaction]]
    _commit: Callable[..., Awaitable[Event | None]]

    # -- forms ------------------------------------------------------------------------

    async def add_evaluation_form(self, form: EvaluationForm) -> None:
        """Stores a new version; AlreadyExists when that version is taken
        (a concurrent save got there first): versions are never replaced."""
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    evaluation_forms.insert().values(
                        queue_id=form.queue_id,
                        version=form.version,
                        created_at=form.created_at.timestamp(),
                        doc=form.model_dump_json(),
                    )
                )
        except IntegrityError:
            raise AlreadyExists(
                f"Version {form.version} of queue {form.queue_id}'s evaluation form exists already."
            ) from None

    async def get_evaluation_form(self, queue_id: str, version: int | None = None) -> EvaluationForm | None:
        """The given version of the queue's form, or its latest; None when there is none."""
        c = evaluation_forms.c
        stmt = select(c.doc).where(c.queue_id == queue_id)
        stmt = stmt.where(c.version == version) if version is not None else stmt.order_by(c.version.desc()).limit(1)
        async with self.db.read() as conn:
            doc = (await conn.execute(stmt)).scalar()
        return None if doc is None else EvaluationForm.model_validate_json(doc)

    # -- evaluations ------------------------------------------------------------------

    async def get_evaluation(self, evaluation_id: str) -> Evaluation:
        async with self.db.read() as conn:
            doc = (await conn.execute(select(evaluations.c.doc).where(evaluations.c.id == evaluation_id))).scalar()
        if doc is None:
            raise NotFound(f"Evaluation {evaluation_id} does not exist.")
        return Evaluation.model_validate_json(doc)

    async def record_evaluation(
        self,
        interaction_id: str,
        decide: Callable[[Interaction, Evaluation | None], Verdict],
        evaluation_id: str | None = None,
    ) -> tuple[Event, Evaluation]:
        """Decides on the current interaction (and evaluation, when changing one) and commits the evaluation, its audit
        entry and event together; re-reads and re-decides when the interaction moved on meanwhile.

        Every change of an evaluation bumps its interaction's version, so the evaluation read after the interaction
        is current exactly when the version check passes.
        """
        for _ in range(MAX_ATTEMPTS):
            before = await self.get_interaction(interaction_id)
            current = await self.get_evaluation(evaluation_id) if evaluation_id is not None else None
            verdict = decide(before, current)
            event = await self._commit(before, verdict.event, also=partial(self._write_evaluation, verdict))
            if event is not None:
                return event, verdict.evaluation
        raise ConcurrentUpdate(f"Interaction {interaction_id} kept changing underneath; try again.")

    async def _write_evaluation(self, verdict: Verdict, conn: AsyncConnection) -> None:
        row = _row(verdict.evaluation)
        if verdict.created:
            await conn.execute(evaluations.insert().values(**row))
        else:
            await conn.execute(evaluations.update().where(evaluations.c.id == row.pop("id")).values(**row))

    async def list_evaluations(
        self,
        *,
        interaction_id: str | None = None,
        agent: str | None = None,
        queue: str | None = None,
        queues: set[str] | None = None,
        involving: str | None = None,
        limit: int = LIST_LIMIT,
    ) -> list[Evaluation]:
        """Newest first, filtered by interaction, agent and queue; of those, the ones in ``queues`` (None: every queue,
        empty: none) or, with ``involving``, whose agent or evaluator that user is."""
        c = evaluations.c
        stmt = select(c.doc)
        if queues is not None:
            visible = ([c.queue_id.in_(sorted(queues))] if queues else []) + (
                [c.agent == involving, c.evaluator == involving] if involving else []
            )
            if not visible:
                return []
            stmt = stmt.where(or_(*visible))
        if interaction_id is not None:
            stmt = stmt.where(c.interaction_id == interaction_id)
        if agent is not None:
            stmt = stmt.where(c.agent == agent)
        if queue is not None:
            stmt = stmt.where(c.queue_id == queue)
        async with self.db.read() as conn:
            docs = (await conn.execute(stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit))).scalars().all()
        return [Evaluation.model_validate_json(d) for d in docs]

    async def evaluation_summary(self, queues: set[str] | None) -> Summary:
        """Counts and average scores per agent and per queue, as two GROUP BYs (no row is loaded)."""
        c = evaluations.c
        if queues is not None and not queues:
            return Summary(agents=[], queues=[])
        where = [] if queues is None else [c.queue_id.in_(sorted(queues))]
        per_agent = select(c.agent, func.count(), func.avg(c.score)).where(*where).group_by(c.agent).order_by(c.agent)
        per_queue = (
            select(c.queue_id, func.count(), func.avg(c.score)).where(*where).group_by(c.queue_id).order_by(c.queue_id)
        )
        async with self.db.read() as conn:
            agents = (await conn.execute(per_agent)).all()
            by_queue = (await conn.execute(per_queue)).all()
        return Summary(
            agents=[AgentRollup(agent=a, count=n, average=round(float(avg), 2)) for a, n, avg in agents],
            queues=[QueueRollup(queue_id=q, count=n, average=round(float(avg), 2)) for q, n, avg in by_queue],
        )
