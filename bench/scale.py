"""Scale figures of issue 14, in one run: idle CPU against the active set, history search over 1 M rows,
Redis memory against history, and claim + message + end commands per second, on SQLite and PostgreSQL.

    python bench/scale.py [--only idle,search,redis,commands] [--rows 1000000] [--active 1000,10000,50000]
                          [--seconds 20] [--stores sqlite,postgres] [--readme]

Every gateway is a real ``python -m gateway`` process on 127.0.0.1; rows are seeded straight into SQL
(built by bench/scale_rows.py, written by bench/scale_seed.py).  Each part checks its preconditions and
stops with an AssertionError otherwise.
Floors, measured in the same run: idle CPU of the same process with 0 active; for search, the same
indexed query run directly against the database; Redis memory with 1 k completed rows; for commands,
GET /healthz requests/s of the same server at the same concurrency.  ``--readme`` writes the tables into
bench/README.md (section "Scale (issue 14)").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis
import scale_rows as gen
import scale_seed as seed
from common import ADMIN, ROOT, TOKEN, cpu_seconds
from processes import gateway_process, postgres_database, private_redis, sqlite_database
from scale_load import cycles, rate
from scale_search import run_searches

PASSWORD = "bench password 1"
REPORT: list[str] = []


def out(line: str = "") -> None:
    print(line, flush=True)
    REPORT.append(line)


# -- databases and gateways -----------------------------------------------------------------------


@contextlib.contextmanager
def database(store: str) -> Iterator[tuple[dict[str, str], str, str]]:
    """(gateway environment, sink address, name) of a fresh migrated database, dropped afterwards."""
    if store == "postgres":
        with postgres_database() as url:
            yield {"GATEWAY_DATABASE_URL": url}, url, url.rpartition("/")[2]
        return
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        path = str(sqlite_database(Path(tmp)))
        yield {"GATEWAY_DATA_DIR": tmp}, path, path


async def sink(store: str, address: str) -> seed.SqliteSink | seed.PostgresSink:
    return await seed.PostgresSink.open(address) if store == "postgres" else seed.SqliteSink(address)


def admin_setup(
    url: str, queues: list[str], agents: int, prefix: str, *, wrap_up_limit: int = 120
) -> list[tuple[str, str]]:
    """Creates the queues and ``agents`` agent users through the API; returns (user id, bearer token) per agent."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as c:
        for q in queues:
            r = c.post("/api/queues", json={"id": q, "name": q, "settings": {"wrap_up_limit": wrap_up_limit}})
            assert r.status_code in (201, 409), r.text
        users = []
        for i in range(agents):
            r = c.post(
                "/api/users",
                json={
                    "username": f"{prefix}{i}",
                    "name": f"Agent {prefix}{i}",
                    "queues": queues,
                    "password": PASSWORD,
                    "capacity": {"chat": 100},
                },
            )
            assert r.status_code == 201, r.text
            login = httpx.post(
                f"{url}/api/auth/login", json={"username": f"{prefix}{i}", "password": PASSWORD}, timeout=60
            )
            assert login.status_code == 200, login.text
            users.append((r.json()["id"], login.json()["token"]))
        return users


def api_active(url: str, queues: list[str]) -> int:
    """Active interactions as the API reports them: the sum of the queues' live figures."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=120) as c:
        return sum(c.get(f"/api/queues/{q}/metrics").raise_for_status().json()["active"] for q in queues)


def postgres_cpu(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends serving ``dbname`` (their work is the gateway's too)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                if f" {dbname} " in (proc / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ") + " ":
                    total += cpu_seconds(int(proc.name))
    return total


# -- 1. idle CPU ----------------------------------------------------------------------------------


def idle(store: str, levels: list[int], seconds: float) -> None:
    queues = gen.QUEUES
    with database(store) as (env, address, dbname), gateway_process(env | {"GATEWAY_ADMIN_TOKEN": TOKEN}) as gp:
        agents = [uid for uid, _ in admin_setup(gp.url, queues, 20, f"idle-{store}-")]
        have, floor = 0, None
        for i, n in enumerate([0, *levels]):

            async def grow(n: int = n, have: int = have, i: int = i) -> int:
                s = await sink(store, address)
                try:
                    now = time.time()
                    await seed.seed(
                        [s],
                        lambda r: gen.active(r, now, queues, agents),
                        n - have,
                        seed=1000 + i,
                        label=f"{n:,} active on {store}",
                    )
                    return await seed.count(s, "active")
                finally:
                    await s.close()

            in_sql = asyncio.run(grow())
            have = n
            assert in_sql == n, f"{store}: {in_sql} active rows in SQL, expected {n}"
            through_api = api_active(gp.url, queues)
            assert through_api == n, f"{store}: the API counts {through_api} active interactions, expected {n}"
            time.sleep(5)  # warm-up: the first sweeps over the new rows, caches
            assert gp.proc.poll() is None, "gateway exited"
            c0, p0, t0 = (
                cpu_seconds(gp.proc.pid),
                postgres_cpu(dbname) if store == "postgres" else 0.0,
                time.monotonic(),
            )
            time.sleep(seconds)
            c1, p1, t1 = (
                cpu_seconds(gp.proc.pid),
                postgres_cpu(dbname) if store == "postgres" else 0.0,
                time.monotonic(),
            )
            pct, pg = 100 * (c1 - c0) / (t1 - t0), 100 * (p1 - p0) / (t1 - t0)
            floor = pct if floor is None else floor
            pg_cell = f"{pg:.1f} %" if store == "postgres" else "-"
            ratio = f"{pct / floor:.1f}" if floor > 0 else "-"
            out(
                f"| {store} | {n:,} | {through_api:,} | {pct:.1f} % | {pg_cell} | {ratio} "
                f"| {('met' if pct < 2 else '**missed**') if n >= 50_000 else '-'} |"
            )


# -- 2. + 3. history search and Redis memory ------------------------------------------------------


def redis_memory(pg_url: str, label: str, activity: int, phase: str) -> tuple[int, int, int]:
    """(used_memory with nothing connected, used_memory after, keys) of a private Redis used by two gateways on
    ``pg_url``."""
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp, private_redis(tmp) as port:
        r = redis.Redis(port=port)
        empty = int(r.info("memory")["used_memory"])
        env = {
            "GATEWAY_DATABASE_URL": pg_url,
            "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "GATEWAY_REDIS_PREFIX": "bench",
            "GATEWAY_ADMIN_TOKEN": TOKEN,
        }
        with gateway_process(env) as a, gateway_process(env) as b:
            users = admin_setup(a.url, ["live"], 8, f"live-{phase}-", wrap_up_limit=0)

            async def work() -> None:
                s = await sink("postgres", pg_url)
                try:
                    now, before = time.time(), await seed.count(s, "completed")
                    rows = [
                        row
                        for rows, _ in gen.batches(
                            lambda r: gen.active(r, now, ["live"], []), activity, seed=7 if phase == "a" else 8
                        )
                        for row in rows
                    ]
                    await s.write(rows, [])
                    done = await cycles(
                        [a.url, b.url], [t for _, t in users], [row["id"] for row in rows], concurrency=16
                    )
                    assert not done.failures, done.failures[:5]
                    await wait_completed(s, before + activity)
                finally:
                    await s.close()

            asyncio.run(work())
            time.sleep(5)  # presence refreshes, metrics publishes, stream trimming
            used, keys = int(r.info("memory")["used_memory"]), int(r.dbsize())
        r.close()
    print(f"  redis with {label}: {used - empty:,} bytes above empty, {keys} keys", flush=True)
    return empty, used, keys


async def wait_completed(s: seed.SqliteSink | seed.PostgresSink, expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (n := await seed.count(s, "completed")) < expected:
        assert time.monotonic() < deadline, f"only {n} of {expected} interactions completed within {timeout:.0f} s"
        await asyncio.sleep(0.5)


def history(stores: list[str], rows: int, queries: int, parts: set[str]) -> None:
    gen.check_rows()
    with contextlib.ExitStack() as stack:
        dbs = {s: stack.enter_context(database(s)) for s in stores}
        base = 1_000 if "redis" in parts and "postgres" in stores else 0

        async def fill(start: int, n: int) -> None:
            sinks = [await sink(s, dbs[s][1]) for s in stores]
            try:
                began, now = time.monotonic(), NOW
                for s in sinks:
                    await seed.bulk(s, create=False)
                for chunk, tags in gen.completed_batches(n, seed=start, now=now):
                    for s in sinks:
                        await s.write(chunk, tags)
                loaded = time.monotonic()
                for s in sinks:
                    await seed.bulk(s, create=True)
                print(
                    f"  seeded {n:,} completed rows into {', '.join(stores)}: {loaded - began:.0f} s to load, "
                    f"{time.monotonic() - loaded:.0f} s to index",
                    flush=True,
                )
                for s in sinks:
                    await seed.settle(s)
            finally:
                for s in sinks:
                    await s.close()

        memory: list[tuple[int, int, int]] = []
        if base:
            asyncio.run(fill(1, base))
            memory.append(redis_memory(dbs["postgres"][0]["GATEWAY_DATABASE_URL"], f"{base:,} (+200 worked)", 200, "a"))
        asyncio.run(fill(2, rows - base))
        if "search" in parts:
            out("")
            out(
                "| store | search | queries | rows/page (mean) | floor p50 / p99 / max ms "
                "| gateway p50 / p99 / max ms | p99 ratio | goal |"
            )
            out("|---|---|---|---|---|---|---|---|")
            for store in stores:
                env, address, _ = dbs[store]
                with gateway_process(env | {"GATEWAY_ADMIN_TOKEN": TOKEN}) as gp:
                    run_searches(
                        store, gp.url, address, rows, queries, 200 if base and store == "postgres" else 0, NOW, out
                    )
        if base:
            out("")
            memory.append(redis_memory(dbs["postgres"][0]["GATEWAY_DATABASE_URL"], f"{rows:,} (+200 worked)", 200, "b"))
            out("| completed rows in PostgreSQL | Redis used_memory, empty | after the same work | grown by | keys |")
            out("|---|---|---|---|---|")
            for n, (empty, used, keys) in zip((base, rows), memory, strict=True):
                out(f"| {n:,} (+200 worked) | {empty:,} | {used:,} | {used - empty:,} | {keys:,} |")
            (e1, u1, _), (e2, u2, _) = memory
            growth = (u2 - e2) / max(1, u1 - e1)
            out(
                f"\nRedis memory above an empty server, {rows:,} against {base:,} completed rows: {growth:.2f}x "
                f"(goal within 10 %: {'met' if growth <= 1.10 else 'missed'})"
            )


NOW = time.time()


# -- 4. commands per second -----------------------------------------------------------------------


def commands(store: str, n: int, concurrency: int) -> tuple[float, float]:
    with database(store) as (env, address, _), gateway_process(env | {"GATEWAY_ADMIN_TOKEN": TOKEN}) as gp:
        users = admin_setup(gp.url, ["cmd"], concurrency, f"cmd-{store}-", wrap_up_limit=0)

        async def go() -> tuple[float, float]:
            s = await sink(store, address)
            try:
                now = time.time()
                ids = [
                    row["id"]
                    for rows, tags in gen.batches(lambda r: gen.active(r, now, ["cmd"], []), n, seed=5)
                    for row in rows
                ]
                for rows, tags in gen.batches(lambda r: gen.active(r, now, ["cmd"], []), n, seed=5):
                    await s.write(rows, tags)
                assert await seed.count(s, "active") == n
                floor = await rate(gp.url, concurrency, 5.0)
                done = await cycles([gp.url], [t for _, t in users], ids, concurrency=concurrency)
                assert not done.failures, f"{len(done.failures)} commands failed: {done.failures[:5]}"
                assert done.ok == 3 * n, (done.ok, n)
                await wait_completed(s, n)
                return floor, done.ok / done.elapsed
            finally:
                await s.close()

        floor, per_s = asyncio.run(go())
    out(f"| {store} | {n:,} | {concurrency} | {floor:,.0f} | {per_s:,.0f} | {per_s / floor:.2f} |")
    return floor, per_s


# -- the run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="idle,search,redis,commands")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--active", default="1000,10000,50000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100, help="searches of each kind per store")
    parser.add_argument(
        "--commands", type=int, default=1_500, help="interactions claimed, messaged and ended per store"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--readme", action="store_true", help="write the tables into bench/README.md")
    args = parser.parse_args()
    parts, stores = set(args.only.split(",")), args.stores.split(",")
    began = time.monotonic()
    rev = subprocess.run(
        ["git", "describe", "--always", "--dirty"], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    out(f"Code: `{rev}` (a dirty tree means uncommitted work of others was measured too).\n")
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    out(
        f"`python bench/scale.py --only {args.only} --stores {args.stores} --rows {args.rows} "
        f"--active {args.active} --seconds {args.seconds:g}`\n"
    )
    if "idle" in parts:
        out(
            "| store | active (SQL) | active (API) | gateway CPU, % of a core | PostgreSQL backends "
            "| ratio to 0 active | goal < 2 % at 50 k |"
        )
        out("|---|---|---|---|---|---|---|")
        for store in stores:
            idle(store, [int(x) for x in args.active.split(",")], args.seconds)
        out("")
    if parts & {"search", "redis"}:
        history(stores if "search" in parts else ["postgres"], args.rows, args.queries, parts)
    if "commands" in parts:
        out(
            "| store | interactions | clients | floor: GET /healthz per s "
            "| claim+message+end commands per s | ratio to floor |"
        )
        out("|---|---|---|---|---|---|")
        figures = {store: commands(store, args.commands, args.concurrency) for store in stores}
        if len(figures) == 2:
            out(f"\nSQLite / PostgreSQL commands per second: {figures['sqlite'][1] / figures['postgres'][1]:.2f}")
    out(
        f"\n(run took {(time.monotonic() - began) / 60:.1f} min; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    if args.readme:
        write_readme()


def write_readme() -> None:
    """Puts this run's tables between the markers of bench/README.md's "Scale (issue 14)" section (made if missing).

    Only the text between the markers is replaced: the section's notes on the figures stay as written.
    """
    path = ROOT / "bench" / "README.md"
    text = path.read_text()
    begin, end = "<!-- scale:begin -->", "<!-- scale:end -->"
    run = (
        f"{begin}\n{dt.date.today().isoformat()}, "
        "this machine (2 cores, shared by the gateways, PostgreSQL, Redis and the bench).\n\n"
        + "\n".join(REPORT)
        + f"\n{end}"
    )
    if begin in text and end in text:
        text = text[: text.index(begin)] + run + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n## Scale (issue 14)\n\n" + run + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
