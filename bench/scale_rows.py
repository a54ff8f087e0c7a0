"""Rows for bench/scale.py: realistic interactions, built as the gateway would have stored them.

Rows are made by the store's own ``interaction_row`` / ``tag_rows`` from real
``Interaction`` documents (customer, a few messages, the activity a real one
carries), so the columns and indexes are exactly what the gateway would
have written; completed history takes a faster path from templates, which
``check_rows`` holds to ``interaction_row``.  Generation is deterministic
(one seeded RNG per call), so SQLite and PostgreSQL get the same rows when
seeded in the same pass.  scale_seed.py writes them.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sessions.model import (
    ActivityEntry,
    CommType,
    Customer,
    Direction,
    Interaction,
    Message,
    Outcome,
    State,
    Status,
    Subtype,
)
from sessions.stores.sql import schema
from sessions.stores.sql.columns import interaction_row, tag_rows

QUEUES = [f"q{i:02d}" for i in range(20)]
#: Agents that completed the history rows (ids only; search filters by id).
HISTORY_AGENTS = [f"agent{i:03d}" for i in range(200)]
TAGS = [
    "billing",
    "refund",
    "vip",
    "complaint",
    "sales",
    "delivery",
    "returns",
    "warranty",
    "fraud",
    "outage",
    "spanish",
    "french",
    "callback",
    "escalated",
    "new-customer",
    "churn-risk",
    "upgrade",
    "cancel",
    "invoice",
    "password",
    "shipping",
    "damaged",
    "survey",
    "b2b",
    "priority",
    "legal",
    "press",
    "partner",
    "trial",
    "feedback",
]
FIRST = [
    "maria",
    "john",
    "wei",
    "fatima",
    "olga",
    "carlos",
    "aisha",
    "james",
    "yuki",
    "pierre",
    "anna",
    "mohamed",
    "lucia",
    "david",
    "sofia",
    "ivan",
    "noah",
    "emma",
    "liam",
    "chloe",
] * 10
FIRST = [f"{n}{'' if i < 20 else chr(97 + i // 20)}" for i, n in enumerate(FIRST)]  # 200 distinct first names
SYLLABLES = [
    "gar",
    "cia",
    "mul",
    "ler",
    "ng",
    "ko",
    "tan",
    "sen",
    "ber",
    "son",
    "ova",
    "ski",
    "ez",
    "di",
    "rossi",
    "lee",
    "kim",
    "ham",
    "mad",
    "zh",
]
LAST = [a + b + c for a in SYLLABLES[:10] for b in SYLLABLES[5:15] for c in SYLLABLES[10:15]][:500]
CUSTOMERS = 200_000
YEAR = 365 * 86_400
BODIES = [
    "Hello, I have a question about my order and the delivery date.",
    "Thanks for reaching out, let me look that up for you.",
    "It was supposed to arrive on Tuesday but the tracking page has not changed since.",
    "I see it, the parcel is at the local depot; it goes out tomorrow morning.",
]
COLUMNS = [c.name for c in schema.interactions.columns]


def customer(c: int) -> Customer:
    first, last = FIRST[c % len(FIRST)], LAST[(c // len(FIRST)) % len(LAST)]
    return Customer(
        name=f"{first.title()} {last.title()}",
        phone=f"+1555{c:07d}",
        email=f"{first}.{last}{c}@example.com",
        attributes={"account": f"A{c:07d}"},
    )


def _messages(rng: random.Random, at: datetime, agent: str | None, n: int) -> list[Message]:
    out = []
    for k in range(n):
        inbound = k % 2 == 0 or agent is None
        out.append(
            Message(
                id=uuid.UUID(int=rng.getrandbits(128)).hex,
                at=at + timedelta(seconds=20 * k),
                direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                author="customer" if inbound else agent,
                body=BODIES[k % len(BODIES)],
                channel=Subtype.CHAT,
            )
        )
    return out


def completed(rng: random.Random, now: float) -> Interaction:
    """A completed chat of the last year: customer, four messages, the four activity entries of its life, 0-3 tags."""
    return Interaction.model_validate_json(_completed_row(rng, now)[0]["doc"])


#: Stand-in times in the templates, replaced per row (pydantic writes UTC as ...Z).
_TIMES = {f"2001-01-01T00:00:0{k}Z": f"@T{k}@" for k in range(1, 5)}


def _template(outcome: Outcome) -> tuple[dict, list[str]]:
    """A completed chat dumped once by pydantic with placeholders; split so that a row is one ``"".join``."""
    t = [datetime(2001, 1, 1, 0, 0, k, tzinfo=UTC) for k in range(1, 5)]
    activity = [
        ActivityEntry(at=t[0], kind="created", by="system", detail="Created in queue @QUEUE@"),
        ActivityEntry(at=t[1], kind="claimed", by="@AGENT@", detail="Claimed by @AGENT@"),
        ActivityEntry(
            at=t[2],
            kind="ended",
            by="@AGENT@",
            detail=f"Ended as {outcome.value} by @AGENT@; wrap-up started",
            data={"outcome": outcome.value},
        ),
        ActivityEntry(at=t[3], kind="completed", by="@AGENT@", detail="Completed by @AGENT@"),
    ]
    messages = [
        Message(
            id=f"@M{k}@",
            at=t[0],
            direction=Direction.INBOUND if k % 2 == 0 else Direction.OUTBOUND,
            author="customer" if k % 2 == 0 else "@AGENT@",
            body=BODIES[k],
            channel=Subtype.CHAT,
        )
        for k in range(4)
    ]
    ix = Interaction(
        id="@ID@",
        version=5,
        queue_id="@QUEUE@",
        direction=Direction.INBOUND,
        type=CommType.MESSAGING,
        subtype=Subtype.CHAT,
        state=State.COMPLETED,
        status=Status.COMPLETED,
        outcome=outcome,
        customer=Customer(name="@NAME@", phone="@PHONE@", email="@EMAIL@", attributes={"account": "@ACCOUNT@"}),
        tags=["@TAGS@"],
        assigned_to="@AGENT@",
        created_at=t[0],
        claimed_at=t[1],
        answered_at=t[1],
        wrap_up_at=t[2],
        completed_at=t[3],
        completed_by="@AGENT@",
        messages=messages,
        activity=activity,
    )
    doc = ix.model_dump_json().replace('["@TAGS@"]', "@TAGS@")
    for stamp, mark in _TIMES.items():
        doc = doc.replace(stamp, mark)
    return interaction_row(ix), re.split(r"(@[A-Z0-9]+@)", doc)


#: Per outcome: (the template's own row, for the columns every such chat shares; the document in parts).
_TEMPLATES = {o: _template(o) for o in Outcome}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def _completed_row(rng: random.Random, now: float) -> tuple[dict, list[dict]]:
    """The row ``interaction_row`` would make for a random completed chat, without pydantic per row (1 M of them).

    ``check_rows`` holds this to the store's own ``interaction_row`` on a sample.
    """
    created = now - rng.uniform(0, YEAR)
    claimed, ended = created + rng.uniform(5, 120), created + rng.uniform(200, 900)
    done = ended + rng.uniform(5, 120)
    c = rng.randrange(CUSTOMERS)
    first, last = FIRST[c % len(FIRST)], LAST[(c // len(FIRST)) % len(LAST)]
    name, email = f"{first.title()} {last.title()}", f"{first}.{last}{c}@example.com"
    agent, queue = rng.choice(HISTORY_AGENTS), rng.choice(QUEUES)
    outcome = Outcome.RESOLVED if rng.random() < 0.85 else Outcome.UNRESOLVED
    tags = rng.sample(TAGS, rng.choice((0, 1, 1, 2, 3)))
    iid = f"{rng.getrandbits(128):032x}"
    values = {
        "@ID@": iid,
        "@QUEUE@": queue,
        "@AGENT@": agent,
        "@NAME@": name,
        "@PHONE@": f"+1555{c:07d}",
        "@EMAIL@": email,
        "@ACCOUNT@": f"A{c:07d}",
        "@TAGS@": "[" + ",".join(f'"{t}"' for t in tags) + "]",
        "@T1@": _iso(created),
        "@T2@": _iso(claimed),
        "@T3@": _iso(ended),
        "@T4@": _iso(done),
    }
    for k in range(4):
        values[f"@M{k}@"] = f"{rng.getrandbits(128):032x}"
    shared, parts = _TEMPLATES[outcome]
    row = shared | {
        "id": iid,
        "queue_id": queue,
        "assigned_to": agent,
        "completed_by": agent,
        "customer_name": name.lower(),
        "customer_phone": f"+1555{c:07d}",
        "customer_email": email,
        "created_at": created,
        "claimed_at": claimed,
        "answered_at": claimed,
        "wrap_up_at": ended,
        "completed_at": done,
        "doc": "".join(values.get(part, part) for part in parts),
    }
    return row, [{"tag": t, "interaction_id": iid} for t in tags]


def check_rows(n: int = 200) -> None:
    """Fails loudly unless the fast rows are valid documents whose columns are exactly what ``interaction_row``
    derives."""
    rng = random.Random(99)
    for _ in range(n):
        row, tags = _completed_row(rng, time.time())
        ix = Interaction.model_validate_json(row["doc"])
        expected = interaction_row(ix)
        for col in COLUMNS:
            if col == "doc":
                continue
            a, b = row[col], expected[col]
            assert abs(a - b) < 1e-3 if isinstance(a, float) and isinstance(b, float) else a == b, (
                f"seed row column {col}: {a!r} != interaction_row's {b!r}"
            )
        assert tags == tag_rows(ix), (tags, tag_rows(ix))


def active(rng: random.Random, now: float, queues: Sequence[str], agents: Sequence[str]) -> Interaction:
    """A live chat of the last half hour: 80 % waiting in its queue, 20 % claimed by one of ``agents``."""
    created = datetime.fromtimestamp(now - rng.uniform(0, 1800), UTC)
    queue = rng.choice(queues)
    ix = Interaction(
        id=uuid.UUID(int=rng.getrandbits(128)).hex,
        version=1,
        queue_id=queue,
        direction=Direction.INBOUND,
        type=CommType.MESSAGING,
        subtype=Subtype.CHAT,
        customer=customer(rng.randrange(CUSTOMERS)),
        tags=rng.sample(TAGS, rng.choice((0, 1, 2))),
        created_at=created,
        messages=_messages(rng, created, None, 2),
        activity=[ActivityEntry(at=created, kind="created", by="system", detail=f"Created in queue {queue}")],
    )
    if agents and rng.random() < 0.2:
        agent = rng.choice(agents)
        at = created + timedelta(seconds=rng.uniform(1, 60))
        ix.version, ix.status, ix.assigned_to, ix.claimed_at, ix.answered_at = 2, Status.CLAIMED, agent, at, at
        ix.activity.append(ActivityEntry(at=at, kind="claimed", by=agent, detail=f"Claimed by {agent}"))
    return ix


Make = Callable[[random.Random], Interaction]


def batches(make: Make, n: int, seed: int, size: int = 5_000):
    """(interaction rows, tag rows) in chunks of ``size``."""
    rng = random.Random(seed)
    for start in range(0, n, size):
        ixs = [make(rng) for _ in range(min(size, n - start))]
        yield [interaction_row(ix) for ix in ixs], [t for ix in ixs for t in tag_rows(ix)]


def completed_batches(n: int, seed: int, now: float, size: int = 10_000):
    """Like ``batches`` for completed history, through the fast path (``check_rows`` first)."""
    rng = random.Random(seed)
    for start in range(0, n, size):
        pairs = [_completed_row(rng, now) for _ in range(min(size, n - start))]
        yield [p[0] for p in pairs], [t for p in pairs for t in p[1]]
