"""History: search completed interactions a page at a time, or export a filtered range as CSV or NDJSON.

The criteria, the access rule and the cursor are ``sessions/history.py``;
the store runs one indexed query per page (``stores/sql/history.py``).  An
export streams: the first batch is read before the response starts (so a
store that is down is a 503, not a truncated 200), the rest as the client
reads, a batch at a time.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.responses import StreamingResponse

from sessions.errors import StoreUnavailable
from sessions.history import HistoryCriteria, HistoryFilter
from sessions.model import Interaction

from ..errors import RequestError, describe_validation
from ..operations import BINARY, Call, Operations

ops = Operations("history")
log = logging.getLogger("gateway")

CSV_COLUMNS = [
    "id",
    "queue",
    "type",
    "subtype",
    "direction",
    "outcome",
    "customer_name",
    "customer_phone",
    "customer_email",
    "tags",
    "created_at",
    "claimed_at",
    "completed_at",
    "completed_by",
    "disposition",
    "subject",
]
#: Rows per chunk written to the client.
CHUNK_ROWS = 100
#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A phone number in E.164 is only digits after its "+": no formula can hide in it, so it stays as written.
E164 = re.compile(r"\+\d{1,15}")


class _QueryString(BaseModel):
    """How a query string becomes criteria: ``tags`` comma-separated, and a bad value is 400.

    Query strings are the request's own shape, so a bad one is 400 ``invalid`` (the declared-operation
    wrapper would say 422 for a body).
    """

    @field_validator("tags", mode="before", check_fields=False)
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else value

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise RequestError(400, "invalid", describe_validation(exc)) from None


class HistoryQuery(HistoryFilter, _QueryString):
    """``GET /api/history`` parameters."""


class ExportQuery(HistoryCriteria, _QueryString):
    """``GET /api/history/export`` parameters: the criteria of a search and the format."""

    format: Literal["csv", "ndjson"] = "csv"


class HistoryPage(BaseModel):
    items: list[Interaction]
    #: Pass as ``cursor`` for the next page; null on the last.
    next: Annotated[str | None, Field(description="Cursor of the next page, null on the last")] = None


@ops("GET", "/api/history", query=HistoryQuery, response=HistoryPage)
async def search_history(call: Call) -> HistoryPage:
    """Completed interactions, newest first, filtered by customer,
    dates, queue, agent, outcome, type and tags; paged by cursor."""
    q: HistoryQuery = call.query
    items, nxt = await call.sessions.search_history(call.user, q)
    return HistoryPage(items=items, next=nxt)


@ops("GET", "/api/history/export", query=ExportQuery, response=BINARY)
async def export_history(call: Call) -> StreamingResponse:
    """Every completed interaction matching the criteria, newest first,
    streamed as CSV or NDJSON (supervisors and admins)."""
    q: ExportQuery = call.query
    rows = call.sessions.export_history(call.user, q)
    first = await anext(rows, None)  # a store that is down fails here, before any byte is sent: 503
    lines = ndjson_lines if q.format == "ndjson" else csv_lines
    media = "application/x-ndjson" if q.format == "ndjson" else "text/csv; charset=utf-8"
    return StreamingResponse(
        _stream(first, rows, lines),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="history.{q.format}"'},
    )


async def _stream(first: Interaction | None, rest: AsyncIterator[Interaction], lines: Any) -> AsyncIterator[str]:
    if lines is csv_lines:
        yield _csv_text([CSV_COLUMNS])
    if first is None:
        return
    batch = [first]
    try:
        async for ix in rest:
            batch.append(ix)
            if len(batch) >= CHUNK_ROWS:
                yield lines(batch)
                batch = []
    except StoreUnavailable:
        # The status line is gone already: end the response unfinished,
        # so the client sees a broken transfer, not a short file.
        log.warning("history export cut short: the store became unreachable")
        raise
    if batch:
        yield lines(batch)


def ndjson_lines(batch: list[Interaction]) -> str:
    return "".join(ix.model_dump_json() + "\n" for ix in batch)


def csv_lines(batch: list[Interaction]) -> str:
    return _csv_text(csv_row(ix) for ix in batch)


def _csv_text(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def csv_row(ix: Interaction) -> list[str]:
    """One interaction as the CSV columns; every cell a spreadsheet could run is neutralised."""
    c = ix.customer
    cells = [
        ix.id,
        ix.queue_id,
        ix.type.value,
        ix.subtype.value,
        ix.direction.value,
        ix.outcome.value if ix.outcome else "",
        c.name,
        c.phone,
        c.email,
        ";".join(ix.tags),
        _time(ix.created_at),
        _time(ix.claimed_at),
        _time(ix.completed_at),
        ix.completed_by,
        ix.disposition,
        ix.subject,
    ]
    return [neutralise(cell or "") for cell in cells]


def _time(at: datetime | None) -> str:
    return at.isoformat() if at else ""


def neutralise(cell: str) -> str:
    """Prefixes a cell a spreadsheet would evaluate with ``'`` (OWASP's advice), so it is shown as text."""
    if cell.startswith(FORMULA_START) and not E164.fullmatch(cell):
        return "'" + cell
    return cell
