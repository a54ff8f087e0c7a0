"""History search for bench/scale.py: a mix of searches through ``GET /api/history`` against the same query run
directly.

The floor is the store's own SELECT for the same criteria (``history_query``, compiled with its values)
run straight on the database by this process: what the indexes cost, without HTTP, JSON or pydantic.
Precondition, per store: the completed rows are all there, and the first searches of each kind return
exactly the ids a plain SQL query written here (no planner hints, no store code) finds, in order.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import scale_rows as gen
import scale_seed as seed
from common import ADMIN

from sessions.history import HistoryFilter
from sessions.stores.sql import Database, SqlStore

PAGE = 50
#: Searches per kind whose result is checked against plain SQL.
CHECKED = 5
GOAL_MS = {"postgres": 50.0, "sqlite": 200.0}


def criteria(kind: str, rng: random.Random, now: float) -> dict[str, str]:
    """Query-string parameters of one search of ``kind``, for values the seeding made."""
    c = rng.randrange(gen.CUSTOMERS)
    first, last = gen.FIRST[c % len(gen.FIRST)], gen.LAST[(c // len(gen.FIRST)) % len(gen.LAST)]
    if kind == "phone":
        return {"phone": f"+1555{c:07d}"}
    if kind == "email":
        return {"email": f"{first.title()}.{last}{c}@Example.com"}
    if kind == "name prefix":
        return {"name": f"{first.title()} {last[:3].title()}"}
    if kind == "queue + 30 days":
        start = datetime.fromtimestamp(now - rng.uniform(30, 365) * 86_400, UTC)
        return {
            "queue": rng.choice(gen.QUEUES),
            "completed_from": start.isoformat(),
            "completed_to": (start + timedelta(days=30)).isoformat(),
        }
    if kind == "agent + outcome":
        return {"agent": rng.choice(gen.HISTORY_AGENTS), "outcome": rng.choice(["resolved", "unresolved"])}
    if kind == "tag":
        return {"tags": rng.choice(gen.TAGS)}
    raise ValueError(kind)


KINDS = ["phone", "email", "name prefix", "queue + 30 days", "agent + outcome", "tag"]


def plain_sql(params: dict[str, str], mark: Callable[[int], str]) -> tuple[str, list[object]]:
    """WHERE clause and arguments of ``params`` written plainly (the independent check)."""
    where, args = ["state = 'completed'"], []

    def arg(value: object) -> str:
        args.append(value)
        return mark(len(args))

    for key, col in (
        ("phone", "customer_phone"),
        ("queue", "queue_id"),
        ("agent", "completed_by"),
        ("outcome", "outcome"),
    ):
        if key in params:
            where.append(f"{col} = {arg(params[key])}")
    if "email" in params:
        where.append(f"customer_email = {arg(params['email'].lower())}")
    if "name" in params:
        where.append(f"customer_name LIKE {arg(params['name'].lower() + '%')}")
    if "completed_from" in params:
        where.append(f"completed_at >= {arg(datetime.fromisoformat(params['completed_from']).timestamp())}")
        where.append(f"completed_at < {arg(datetime.fromisoformat(params['completed_to']).timestamp())}")
    if "tags" in params:
        where.append(f"id IN (SELECT interaction_id FROM interaction_tags WHERE tag = {arg(params['tags'])})")
    return " AND ".join(where), args


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run_searches(
    store: str, url: str, address: str, rows: int, per_kind: int, extra: int, now: float, out: Callable[[str], None]
) -> None:
    """``now``: the time the seeding spread its year of history back from."""
    asyncio.run(_run(store, url, address, rows, per_kind, extra, now, out))


async def _run(
    store: str, url: str, address: str, rows: int, per_kind: int, extra: int, now: float, out: Callable[[str], None]
) -> None:
    sqlite = store == "sqlite"
    db_url = f"sqlite+aiosqlite:///{address}" if sqlite else address.replace("postgresql://", "postgresql+asyncpg://")
    sql_store = SqlStore(Database(db_url))
    dialect = sql_store.db.writer.dialect
    raw = seed.SqliteSink(address) if sqlite else await seed.PostgresSink.open(address)
    if sqlite:  # the floor reads as the gateway does: SQLite's default page cache, not the seeding's 1 GB one
        raw.conn.execute("PRAGMA cache_size=-2000")
    mark = (lambda i: "?") if sqlite else (lambda i: f"${i}")

    async def fetch(sql: str, args: list[object]) -> list:
        return raw.conn.execute(sql, args).fetchall() if sqlite else await raw.conn.fetch(sql, *args)  # type: ignore[union-attr]

    try:
        have = await seed.count(raw, "completed")
        assert have == rows + extra, f"{store}: {have:,} completed rows, expected {rows + extra:,}"
        with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as client:
            paths = client.get("/openapi.json").raise_for_status().json()["paths"]
            assert "/api/history" in paths, "GET /api/history is not in this gateway's API"
            rng = random.Random(42)
            plan = [(kind, criteria(kind, rng, now)) for kind in KINDS for _ in range(per_kind)]
            random.Random(7).shuffle(plan)
            checked = dict.fromkeys(KINDS, 0)
            plan_done: list[str] = []
            times: dict[str, tuple[list[float], list[float], list[int]]] = {k: ([], [], []) for k in KINDS}
            for kind, params in plan:
                stmt = sql_store.history_query(
                    HistoryFilter.model_validate(params | ({"tags": [params["tags"]]} if "tags" in params else {})),
                    None,
                    None,
                )
                compiled = str(stmt.limit(PAGE + 1).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                # Whichever runs first may read cold pages: alternate, so both see the same mix.
                for step in ("floor", "http") if len(plan_done) % 2 else ("http", "floor"):
                    began = time.perf_counter()
                    if step == "floor":
                        floor_rows = await fetch(compiled, [])
                        floor_s = time.perf_counter() - began
                    else:
                        r = client.get("/api/history", params=params | {"limit": str(PAGE)})
                        http_s = time.perf_counter() - began
                plan_done.append(kind)
                assert r.status_code == 200, f"{store} {kind} {params}: {r.status_code} {r.text[:300]}"
                ids = [ix["id"] for ix in r.json()["items"]]
                assert ids == [row[1] for row in floor_rows][:PAGE], (
                    f"{store} {kind}: the API and the store's own query disagree"
                )
                if checked[kind] < CHECKED:
                    checked[kind] += 1
                    where, args = plain_sql(params, mark)
                    expected = [
                        row[0]
                        for row in await fetch(
                            f"SELECT id FROM interactions WHERE {where} "
                            f"ORDER BY completed_at DESC, id DESC LIMIT {PAGE}",
                            args,
                        )
                    ]
                    total = (await fetch(f"SELECT count(*) FROM interactions WHERE {where}", args))[0][0]
                    assert ids == expected, (
                        f"{store} {kind} {params}: the API returned {len(ids)} rows, "
                        f"plain SQL finds {total} ({len(expected)} on the page) and they differ"
                    )
                    assert len(ids) == min(PAGE, total)
                f_ms, h_ms, n = times[kind]
                f_ms.append(floor_s * 1000)
                h_ms.append(http_s * 1000)
                n.append(len(ids))
        everything: tuple[list[float], list[float]] = ([], [])
        for kind in KINDS:
            f_ms, h_ms, n = times[kind]
            everything[0].extend(f_ms)
            everything[1].extend(h_ms)
            out(_line(store, kind, f_ms, h_ms, n))
        out(_line(store, "**all**", everything[0], everything[1], [0], goal=GOAL_MS[store]))
    finally:
        await raw.close()
        await sql_store.close()


def _line(store: str, kind: str, f_ms: list[float], h_ms: list[float], n: list[int], goal: float | None = None) -> str:
    fp50, fp99, hp50, hp99 = pct(f_ms, 50), pct(f_ms, 99), pct(h_ms, 50), pct(h_ms, 99)
    mean_rows = f"{statistics.mean(n):.1f}" if n != [0] else "-"
    verdict = (
        "-" if goal is None else (f"p99 <= {goal:.0f} ms: met" if hp99 <= goal else f"p99 <= {goal:.0f} ms: **missed**")
    )
    return (
        f"| {store} | {kind} | {len(h_ms)} | {mean_rows} | {fp50:.1f} / {fp99:.1f} / {max(f_ms):.0f} "
        f"| {hp50:.1f} / {hp99:.1f} / {max(h_ms):.0f} "
        f"| {hp99 / fp99:.1f} | {verdict} |"
    )
