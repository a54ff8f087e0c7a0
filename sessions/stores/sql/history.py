"""History search and export over completed interactions, through the indexes only.

Every search is one SELECT ordered by (completed_at, id) descending with a
keyset bound ``(completed_at, id) < (:t, :id)``: the indexes of schema.py
that end in (completed_at, id) (all completed, per queue, per agent, per
outcome, per type) hand rows over in that order, and the customer indexes
narrow a search to a few rows before any sort.  A customer name prefix is
``LIKE 'x%'`` on PostgreSQL (its index uses the pattern operator class) and
a half-open range on SQLite (whose LIKE ignores case and so skips the
index).  An export walks the same order in batches, one short read per
batch, so it never holds the whole range nor a connection between batches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, func, select, tuple_
from sqlalchemy.engine import Row

from ...history import HistoryCriteria, HistoryFilter, encode_cursor
from ...model import Interaction, State
from . import schema as t
from .engine import Database

#: Rows read per round trip of an export.
EXPORT_BATCH = 500


class History:
    """Mixin for SqlStore: ``queues`` is what the reader may see
    (None: every queue), from ``history.searchable_queues``."""

    db: Database

    async def search_history(self, f: HistoryFilter, queues: set[str] | None) -> tuple[list[Interaction], str | None]:
        """One page, newest first, and the cursor of the next (None when this is the last)."""
        stmt = self.history_query(f, queues, f.position())
        if stmt is None:
            return [], None
        rows = await self._read(stmt.limit(f.limit + 1))
        page = rows[: f.limit]
        more = len(rows) > f.limit
        return [Interaction.model_validate_json(r.doc) for r in page], encode_cursor(
            page[-1].completed_at, page[-1].id
        ) if more else None

    async def export_history(
        self, f: HistoryCriteria, queues: set[str] | None, batch: int = EXPORT_BATCH
    ) -> AsyncIterator[Interaction]:
        """Every match, newest first, read ``batch`` rows at a time by keyset."""
        after: tuple[float, str] | None = None
        while True:
            stmt = self.history_query(f, queues, after)
            if stmt is None:
                return
            rows = await self._read(stmt.limit(batch))
            for r in rows:
                yield Interaction.model_validate_json(r.doc)
            if len(rows) < batch:
                return
            after = (rows[-1].completed_at, rows[-1].id)

    async def _read(self, stmt: Select[Any]) -> list[Row[Any]]:
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).all())

    def history_query(
        self, f: HistoryCriteria, queues: set[str] | None, after: tuple[float, str] | None
    ) -> Select[Any] | None:
        """The SELECT for ``f`` (without its LIMIT), or None when the reader may see no queue at all."""
        c = t.interactions.c
        driver = self._driver(f)
        use = self._indexable(driver)
        stmt = select(c.completed_at, c.id, c.doc).where(use(c.state) == State.COMPLETED.value)
        if f.queue is not None:
            if queues is not None and f.queue not in queues:
                return None
            stmt = stmt.where(use(c.queue_id) == f.queue)
        elif queues is not None:
            if not queues:
                return None
            stmt = stmt.where(use(c.queue_id).in_(sorted(queues)))
        equal = {
            c.completed_by: f.agent,
            c.outcome: f.outcome and f.outcome.value,
            c.type: f.type and f.type.value,
            c.customer_phone: f.phone,
            c.customer_email: f.email,
        }
        stmt = stmt.where(*(use(col) == value for col, value in equal.items() if value is not None))
        if f.name is not None:
            stmt = stmt.where(*self._prefix(use(c.customer_name), f.name))
        if f.completed_from is not None:
            stmt = stmt.where(c.completed_at >= f.completed_from.timestamp())
        if f.completed_to is not None:
            stmt = stmt.where(c.completed_at < f.completed_to.timestamp())
        for tag in dict.fromkeys(f.tags):
            stmt = stmt.where(
                c.id.in_(select(t.interaction_tags.c.interaction_id).where(t.interaction_tags.c.tag == tag))
            )
        # A name prefix on PostgreSQL: its planner guesses far more matches than a real name has and walks the
        # completion-order index backwards, filtering on the name (300 ms over a million rows, measured by
        # bench/scale.py).  Ordering by an expression takes that index out of the race: the name index finds
        # the few hundred rows and they are sorted.
        done = c.completed_at + 0 if driver is c.customer_name and not self.db.is_sqlite else c.completed_at
        if after is not None:
            stmt = stmt.where(tuple_(done, c.id) < tuple_(*after))
        return stmt.order_by(done.desc(), c.id.desc())

    @staticmethod
    def _driver(f: HistoryCriteria) -> Column[Any] | None:
        """The most selective indexed criterion given: a customer key, then the agent."""
        c = t.interactions.c
        return next(
            (
                col
                for col, value in (
                    (c.customer_phone, f.phone),
                    (c.customer_email, f.email),
                    (c.customer_name, f.name),
                    (c.completed_by, f.agent),
                )
                if value is not None
            ),
            None,
        )

    def _indexable(self, driver: Column[Any] | None) -> Callable[[Column[Any]], ColumnElement[Any]]:
        """On SQLite, hides every column but ``driver`` from the planner when there is a driver.

        Without statistics (nothing runs ANALYZE) SQLite prefers ``state = ?`` on the index that is
        already in (completed_at, id) order over ``customer_phone = ?``, and would walk every completed
        row to find one customer.  ``col || ''`` cannot use an index, so the driver's index is the one
        it picks.  PostgreSQL's planner has statistics and sees the plain columns.
        """
        if driver is None or not self.db.is_sqlite:
            return lambda col: col
        return lambda col: col if col is driver else col.concat("")

    def _prefix(self, col: ColumnElement[Any], name: str) -> list[Any]:
        """``col`` (the customer name) starts with ``name``
        (already lower-cased), in the form each database's index serves."""
        if not self.db.is_sqlite:
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return [col.like(escaped + "%", escape="\\")]
        # SQLite compares text by its UTF-8 bytes, which sort as code points do: every string that
        # starts with ``name`` lies in [name, name with its last character incremented).
        last = ord(name[-1])
        if last >= 0x10FFFF:  # no next character: compare the prefix itself (still bounded below by the index)
            return [col >= name, func.substr(col, 1, len(name)) == name]
        upper = name[:-1] + chr(last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000)
        return [col >= name, col < upper]
