"""GET /api/history (search, keyset pages) and /api/history/export (CSV and NDJSON, streamed) over HTTP."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from sessions.model import CommType, Customer, Direction, Interaction, Outcome, State, Status, Subtype
from sessions.stores.sql import schema as t
from sessions.stores.sql.columns import interaction_row, tag_rows
from tests.gateway.conftest import Gateway, assert_error

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def completed(n: int, queue: str, **kw) -> Interaction:
    fields = {
        "id": f"h-{queue}-{n:04d}",
        "queue_id": queue,
        "direction": Direction.INBOUND,
        "type": CommType.CALL,
        "subtype": Subtype.PHONE,
        "state": State.COMPLETED,
        "status": Status.COMPLETED,
        "outcome": Outcome.RESOLVED,
        "customer": Customer(name=f"Customer {n}"),
        "created_at": T0 + timedelta(minutes=n),
        "claimed_at": T0 + timedelta(minutes=n, seconds=5),
        "completed_at": T0 + timedelta(minutes=n, seconds=60),
        "completed_by": "u-someone",
    }
    return Interaction(**{**fields, **kw})


def seed(gw: Gateway, interactions: list[Interaction]) -> None:
    """Completed interactions written straight into the gateway's store of record (as a year of history would be)."""

    async def write() -> None:
        async with gw.app.state.sessions.store.db.write() as conn:
            await conn.execute(insert(t.interactions), [interaction_row(ix) for ix in interactions])
            tags = [row for ix in interactions for row in tag_rows(ix)]
            if tags:
                await conn.execute(insert(t.interaction_tags), tags)

    gw.call(write)


@pytest.fixture
def center(gw: Gateway) -> Gateway:
    gw.queue("sales")
    gw.queue("billing")
    seed(
        gw,
        [completed(n, "sales") for n in range(120)]
        + [completed(n, "billing", type=CommType.MESSAGING, subtype=Subtype.TEXT) for n in range(30)],
    )
    return gw


def test_search_pages_through_everything_newest_first(center: Gateway):
    seen: list[dict] = []
    params: dict = {"queue": "sales", "limit": 50}
    pages = 0
    while True:
        r = center.client.get("/api/history", params=params, headers=center.admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next"}
        seen += body["items"]
        pages += 1
        if body["next"] is None:
            break
        params["cursor"] = body["next"]
    assert pages == 3 and [ix["id"] for ix in seen] == [f"h-sales-{n:04d}" for n in range(119, -1, -1)]
    assert all(ix["state"] == "completed" and ix["queue_id"] == "sales" for ix in seen)


def test_search_filters_arrive_from_the_query_string(center: Gateway):
    seed(
        center,
        [
            completed(
                500,
                "sales",
                customer=Customer(name="Ada Lovelace", phone="+14155550111", email="Ada@Example.org"),
                tags=["vip", "refund"],
                outcome=Outcome.UNRESOLVED,
                completed_by="u-ada",
            )
        ],
    )

    def found(**params) -> list[str]:
        r = center.client.get("/api/history", params=params, headers=center.admin)
        assert r.status_code == 200, r.text
        return [ix["id"] for ix in r.json()["items"]]

    ada = ["h-sales-0500"]
    assert found(name="ada l") == ada and found(phone="+14155550111") == ada and found(email="ADA@example.ORG") == ada
    assert found(tags="vip,refund") == ada and found(tags="vip,other") == []
    assert found(outcome="unresolved") == ada and found(agent="u-ada") == ada
    assert len(found(type="messaging", limit=500)) == 30
    window = found(
        completed_from=(T0 + timedelta(minutes=10, seconds=60)).isoformat(), completed_to="2026-03-01T12:13:00Z"
    )
    assert window == ["h-sales-0011", "h-billing-0011", "h-sales-0010", "h-billing-0010"], (
        "half-open range; equal times by id, descending"
    )


def test_agents_search_only_their_queues(center: Gateway):
    alice = center.agent("alice", ["billing"])
    assert_error(center.client.get("/api/history", params={"queue": "sales"}, headers=alice), 403, "forbidden")
    r = center.client.get("/api/history", params={"limit": 500}, headers=alice)
    assert (
        r.status_code == 200
        and {ix["queue_id"] for ix in r.json()["items"]} == {"billing"}
        and len(r.json()["items"]) == 30
    )
    assert_error(center.client.get("/api/history/export", headers=alice), 403, "forbidden")
    assert center.client.get("/api/history").status_code == 401


def test_bad_parameters_are_400_with_a_reason(center: Gateway):
    for params in (
        {"outcome": "maybe"},
        {"type": "fax"},
        {"completed_from": "yesterday"},
        {"limit": 0},
        {"limit": 501},
        {"completed_from": "2026-03-02", "completed_to": "2026-03-01"},
        {"colour": "blue"},
        {"name": " "},
    ):
        body = assert_error(center.client.get("/api/history", params=params, headers=center.admin), 400, "invalid")
        assert str(next(iter(params))) in body["detail"] or "completed_from" in body["detail"], body
    assert_error(
        center.client.get("/api/history", params={"cursor": "not-a-cursor"}, headers=center.admin),
        400,
        "invalid_cursor",
    )
    assert_error(
        center.client.get("/api/history/export", params={"format": "xlsx"}, headers=center.admin), 400, "invalid"
    )
    assert_error(
        center.client.get("/api/history/export", params={"completed_from": "2026-13-01"}, headers=center.admin),
        400,
        "invalid",
    )


def test_csv_export_streams_every_row_with_formulas_neutralised(center: Gateway):
    sup = center.agent("sam", ["sales"], role="supervisor")
    seed(
        center,
        [
            completed(
                600,
                "sales",
                customer=Customer(name='=HYPERLINK("http://evil")', phone="+14155550100", email="@x.org"),
                tags=["+1", "vip"],
                disposition="-2+3",
                subject="@SUM(A1)",
            )
        ],
    )
    with center.client.stream("GET", "/api/history/export", params={"format": "csv"}, headers=sup) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "content-length" not in r.headers, "streamed, not built in memory first"
        assert r.headers["content-disposition"] == 'attachment; filename="history.csv"'
        text = "".join(r.iter_text())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 121, "every sales row and only them (the supervisor's queue)"
    evil = rows[0]
    assert evil["id"] == "h-sales-0600"
    assert evil["customer_name"] == '\'=HYPERLINK("http://evil")' and evil["customer_email"] == "'@x.org"
    assert evil["disposition"] == "'-2+3" and evil["subject"] == "'@SUM(A1)" and evil["tags"] == "'+1;vip"
    assert evil["customer_phone"] == "+14155550100", "an E.164 number cannot carry a formula and stays as written"
    assert evil["completed_at"] == "2026-03-01T22:01:00+00:00" and evil["completed_by"] == "u-someone"
    assert [row["id"] for row in rows[1:]] == [f"h-sales-{n:04d}" for n in range(119, -1, -1)]
    assert list(rows[0]) == [
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


def test_ndjson_export_is_the_full_interaction_per_line(center: Gateway):
    with center.client.stream(
        "GET", "/api/history/export", params={"format": "ndjson", "queue": "billing"}, headers=center.admin
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = "".join(r.iter_text()).splitlines()
    parsed = [Interaction.model_validate(json.loads(line)) for line in lines]
    assert [ix.id for ix in parsed] == [f"h-billing-{n:04d}" for n in range(29, -1, -1)]
    assert parsed[0] == completed(29, "billing", type=CommType.MESSAGING, subtype=Subtype.TEXT)
    empty = center.client.get(
        "/api/history/export", params={"format": "ndjson", "agent": "nobody"}, headers=center.admin
    )
    assert empty.status_code == 200 and empty.text == ""
