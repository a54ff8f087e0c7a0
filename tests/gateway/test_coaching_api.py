"""Coaching through the HTTP API: forms per queue, who evaluates, 409 before completion, the audit, and the roll-ups."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import Gateway, assert_error
from tests.gateway.test_customers_api import PAT, text_from
from tests.seen import events_seen_by

FORM = {
    "questions": [
        {"id": "greeting", "text": "Greeted the customer by name?", "weight": 1, "scale": "yes_no"},
        {"id": "accuracy", "text": "Accurate answer", "weight": 3, "scale": "points", "max": 4},
        {"id": "tone", "text": "Tone", "weight": 1, "scale": "points", "max": 5},
    ]
}
#: The fields that say what happened and who completed it: an evaluation changes none of them.
COMPLETION = (
    "state",
    "status",
    "outcome",
    "completed_at",
    "completed_by",
    "auto_completed",
    "assigned_to",
    "claimed_at",
    "wrap_up_at",
    "disposition",
)


@pytest.fixture
def team(gw: Gateway) -> dict[str, dict[str, str]]:
    gw.queue("sales")
    gw.queue("billing")
    people = {
        "alice": gw.agent("alice", ["sales"]),
        "bob": gw.agent("bob", ["sales", "billing"]),
        "carol": gw.agent("carol", ["billing"]),
        "sam": gw.agent("sam", ["sales", "billing"], role="supervisor"),
        "vic": gw.agent("vic", ["billing"], role="supervisor"),
    }
    r = gw.client.put("/api/queues/sales/evaluation-form", json=FORM, headers=people["sam"])
    assert r.status_code == 200, r.text
    return people


def handled(gw: Gateway, agent: dict[str, str], queue: str = "sales") -> dict:
    """An inbound call the agent claims, ends resolved and completes; the completed interaction."""
    ix = gw.inbound(queue)
    for path, body in (("claim", None), ("end", {"outcome": "resolved"}), ("complete", None)):
        r = gw.client.post(f"/api/interactions/{ix['id']}/{path}", json=body, headers=agent)
        assert r.status_code == 200, r.text
    return r.json()


def evaluate(gw: Gateway, who: dict[str, str], ix_id: str, answers: dict, notes: str = "") -> dict:
    r = gw.client.post(f"/api/interactions/{ix_id}/evaluations", json={"answers": answers, "notes": notes}, headers=who)
    assert r.status_code == 201, r.text
    return r.json()


class TestForms:
    def test_supervisor_saves_versions_and_members_read_them(self, gw: Gateway, team):
        form = gw.client.get("/api/queues/sales/evaluation-form", headers=team["alice"]).json()
        assert (form["version"], [q["id"] for q in form["questions"]]) == (1, ["greeting", "accuracy", "tone"])
        r = gw.client.put(
            "/api/queues/sales/evaluation-form",
            json={"questions": [{"id": "empathy", "text": "Empathy", "weight": 2}]},
            headers=gw.admin,
        )
        assert r.status_code == 200 and r.json()["version"] == 2
        old = gw.client.get("/api/queues/sales/evaluation-form?version=1", headers=team["sam"]).json()
        assert [q["id"] for q in old["questions"]] == ["greeting", "accuracy", "tone"]

    def test_agents_and_other_queues_supervisors_cannot_set_it(self, gw: Gateway, team):
        assert (
            "needs the right evaluate"
            in assert_error(
                gw.client.put("/api/queues/sales/evaluation-form", json=FORM, headers=team["alice"]), 403, "forbidden"
            )["detail"]
        )
        assert_error(
            gw.client.put("/api/queues/sales/evaluation-form", json=FORM, headers=team["vic"]), 403, "forbidden"
        )
        assert_error(gw.client.get("/api/queues/sales/evaluation-form", headers=team["carol"]), 403)
        assert (
            gw.client.get("/api/queues/sales/evaluation-form", headers=team["alice"]).json()["version"] == 1
        )  # nothing changed

    @pytest.mark.parametrize(
        "form",
        [
            {"questions": []},
            {"questions": [{"id": "q", "text": "Q", "weight": 0}]},
            {"questions": [{"id": "q", "text": "Q", "weight": -2}]},
            {"questions": [{"id": "q", "text": "Q", "weight": 1}, {"id": "q", "text": "R", "weight": 1}]},
            {"questions": [{"id": "q", "text": "Q", "weight": 1, "scale": "stars"}]},
            {"questions": [{"id": "q", "text": "Q", "weight": 1, "max": 0}]},
            {"questions": "all of them"},
            {},
        ],
    )
    def test_bad_forms_are_422_and_change_nothing(self, gw: Gateway, team, form):
        assert_error(gw.client.put("/api/queues/sales/evaluation-form", json=form, headers=team["sam"]), 422, "invalid")
        assert gw.client.get("/api/queues/sales/evaluation-form", headers=team["sam"]).json()["version"] == 1

    def test_unknown_queue_and_missing_form_are_404(self, gw: Gateway, team):
        assert_error(gw.client.put("/api/queues/ghost/evaluation-form", json=FORM, headers=gw.admin), 404)
        assert_error(gw.client.get("/api/queues/billing/evaluation-form", headers=team["vic"]), 404)
        assert_error(gw.client.get("/api/queues/sales/evaluation-form?version=9", headers=team["sam"]), 404)
        assert_error(gw.client.get("/api/queues/sales/evaluation-form?version=zero", headers=team["sam"]), 422)


class TestEvaluating:
    def test_supervisor_scores_and_coaches_and_the_completion_stays(self, gw: Gateway, team):
        ix = handled(gw, team["alice"])
        ev = evaluate(
            gw,
            team["sam"],
            ix["id"],
            {"greeting": True, "accuracy": 3, "tone": 5},
            "Good close; check the refund policy.",
        )
        # By hand: (1*1 + 3*(3/4) + 1*(5/5)) / 5 = 85 %.
        assert (ev["score"], ev["agent"], ev["evaluator"], ev["form_version"], ev["notes"]) == (
            85.0,
            "alice",
            "sam",
            1,
            "Good close; check the refund policy.",
        )
        after = gw.client.get(f"/api/interactions/{ix['id']}", headers=team["sam"]).json()
        assert {f: after[f] for f in COMPLETION} == {f: ix[f] for f in COMPLETION}
        assert after["activity"][:-1] == ix["activity"]
        audit = after["activity"][-1]
        assert (audit["kind"], audit["by"], audit["data"]["evaluation_id"]) == ("evaluated", "sam", ev["id"])

        changed = gw.client.patch(
            f"/api/evaluations/{ev['id']}",
            json={"answers": {"tone": 0}, "notes": "On reflection, curt."},
            headers=team["sam"],
        )
        assert changed.status_code == 200, changed.text
        # Merged: greeting and accuracy stay; (1 + 2.25 + 0) / 5 = 65 %.
        assert (changed.json()["score"], changed.json()["answers"]) == (
            65.0,
            {"greeting": True, "accuracy": 3, "tone": 0},
        )
        again = gw.client.get(f"/api/interactions/{ix['id']}", headers=team["alice"]).json()
        assert {f: again[f] for f in COMPLETION} == {f: ix[f] for f in COMPLETION}
        assert [a["kind"] for a in again["activity"][-2:]] == ["evaluated", "reevaluated"]

    def test_agents_get_403_with_the_reason(self, gw: Gateway, team):
        ix = handled(gw, team["alice"])
        body = assert_error(
            gw.client.post(f"/api/interactions/{ix['id']}/evaluations", json={"answers": {}}, headers=team["bob"]),
            403,
            "forbidden",
        )
        assert body["detail"] == "Evaluating interactions needs the right evaluate, which role agent does not have."
        assert_error(
            gw.client.post(f"/api/interactions/{ix['id']}/evaluations", json={"answers": {}}, headers=team["vic"]), 403
        )  # billing's supervisor
        ev = evaluate(gw, team["sam"], ix["id"], {"greeting": True, "accuracy": 4, "tone": 5})
        assert_error(
            gw.client.patch(f"/api/evaluations/{ev['id']}", json={"notes": "mine"}, headers=team["alice"]),
            403,
            "forbidden",
        )
        assert (
            gw.client.get(f"/api/interactions/{ix['id']}", headers=team["sam"]).json()["version"] == ix["version"] + 1
        )

    def test_active_interactions_are_409(self, gw: Gateway, team):
        ix = gw.inbound("sales")
        assert_error(
            gw.client.post(
                f"/api/interactions/{ix['id']}/evaluations",
                json={"answers": {"greeting": True, "accuracy": 1, "tone": 1}},
                headers=team["sam"],
            ),
            409,
            "illegal_transition",
        )
        gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=team["alice"])
        gw.client.post(f"/api/interactions/{ix['id']}/end", json={"outcome": "resolved"}, headers=team["alice"])
        r = gw.client.post(
            f"/api/interactions/{ix['id']}/evaluations",
            json={"answers": {"greeting": True, "accuracy": 1, "tone": 1}},
            headers=team["sam"],
        )
        assert "wrap_up" in assert_error(r, 409)["detail"]
        assert gw.client.get("/api/evaluations", headers=team["sam"]).json() == []

    def test_a_merged_away_interaction_is_409_and_the_merger_is_never_scored(self, gw: Gateway, team):
        ixs = [text_from(gw, "sales", **PAT) for _ in range(2)]
        for ix, who in zip(ixs, ("alice", "bob"), strict=True):
            assert gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=team[who]).status_code == 200
        assert (
            gw.client.post(
                f"/api/interactions/{ixs[0]['id']}/merge", json={"from": ixs[1]["id"]}, headers=team["sam"]
            ).status_code
            == 200
        )
        r = gw.client.post(
            f"/api/interactions/{ixs[1]['id']}/evaluations",
            json={"answers": {"greeting": True, "accuracy": 1, "tone": 1}},
            headers=gw.admin,
        )
        assert (
            f"merged into interaction {ixs[0]['id']}: evaluate that one"
            in assert_error(r, 409, "illegal_transition")["detail"]
        )
        assert gw.client.get("/api/evaluations/summary", headers=gw.admin).json() == {"agents": [], "queues": []}

    @pytest.mark.parametrize(
        "body",
        [
            {"answers": {"greeting": True, "accuracy": 3}},
            {"answers": {"greeting": True, "accuracy": 9, "tone": 1}},
            {"answers": {"greeting": "yes", "accuracy": 3, "tone": 1}},
            {"answers": {"greeting": True, "accuracy": "3", "tone": 1}},
            {"answers": {"greeting": True, "accuracy": 3, "tone": 1, "bonus": 1}},
            {"answers": {"greeting": True, "accuracy": 3, "tone": 1}, "score": 100},
            {"answers": []},
            {},
        ],
    )
    def test_bad_answers_are_422_and_change_nothing(self, gw: Gateway, team, body):
        ix = handled(gw, team["alice"])
        assert_error(gw.client.post(f"/api/interactions/{ix['id']}/evaluations", json=body, headers=team["sam"]), 422)
        assert gw.client.get(f"/api/interactions/{ix['id']}", headers=team["sam"]).json() == ix
        assert gw.client.get("/api/evaluations", headers=team["sam"]).json() == []

    def test_malformed_and_unknown(self, gw: Gateway, team):
        r = gw.client.post(
            "/api/interactions/nope/evaluations",
            content=b"{not json",
            headers={**team["sam"], "content-type": "application/json"},
        )
        assert_error(r, 400, "malformed_json")
        assert_error(
            gw.client.post("/api/interactions/nope/evaluations", json={"answers": {}}, headers=team["sam"]), 404
        )
        assert_error(gw.client.patch("/api/evaluations/nope", json={"notes": "x"}, headers=team["sam"]), 404)
        assert_error(gw.client.get("/api/evaluations/summary?queue=ghost", headers=team["sam"]), 404)


class TestReading:
    def test_agent_sees_their_own_and_supervisors_their_queues(self, gw: Gateway, team):
        gw.client.put("/api/queues/billing/evaluation-form", json=FORM, headers=team["vic"])
        of_alice = evaluate(
            gw, team["sam"], handled(gw, team["alice"])["id"], {"greeting": True, "accuracy": 4, "tone": 5}
        )
        of_bob = evaluate(
            gw, team["vic"], handled(gw, team["bob"], "billing")["id"], {"greeting": False, "accuracy": 0, "tone": 0}
        )

        def ids(who, query=""):
            r = gw.client.get(f"/api/evaluations{query}", headers=who)
            assert r.status_code == 200, r.text
            return [e["id"] for e in r.json()]

        assert ids(team["alice"]) == [of_alice["id"]]
        assert ids(team["bob"]) == [of_bob["id"]]
        assert ids(team["vic"]) == [of_bob["id"]]
        assert ids(team["sam"]) == [of_bob["id"], of_alice["id"]]
        assert ids(team["sam"], "?queue=sales") == ids(team["sam"], "?agent=alice") == [of_alice["id"]]
        assert ids(gw.admin, "?agent=bob") == [of_bob["id"]]
        assert (
            "only their own"
            in assert_error(gw.client.get("/api/evaluations?agent=bob", headers=team["alice"]), 403)["detail"]
        )
        assert_error(gw.client.get("/api/evaluations?queue=sales", headers=team["vic"]), 403)
        # On the interaction: the agent evaluated and the supervisors; a peer in the queue sees none.
        url = f"/api/interactions/{of_alice['interaction_id']}/evaluations"
        assert [e["id"] for e in gw.client.get(url, headers=team["alice"]).json()] == [of_alice["id"]]
        assert gw.client.get(url, headers=team["bob"]).json() == []
        assert_error(gw.client.get(url, headers=team["carol"]), 403)

    def test_an_agent_granted_evaluate_reads_and_revises_their_own_evaluations(self, gw: Gateway, team):
        assert (
            gw.client.patch("/api/permissions", json={"agent": {"evaluate": True}}, headers=gw.admin).status_code == 200
        )
        ix = handled(gw, team["alice"])
        ev = evaluate(gw, team["bob"], ix["id"], {"greeting": False, "accuracy": 3, "tone": 5})
        assert [
            e["id"] for e in gw.client.get(f"/api/interactions/{ix['id']}/evaluations", headers=team["bob"]).json()
        ] == [ev["id"]]
        r = gw.client.patch(f"/api/evaluations/{ev['id']}", json={"notes": "typo fixed"}, headers=team["bob"])
        assert r.status_code == 200, r.text
        assert (r.json()["notes"], r.json()["updated_by"]) == ("typo fixed", "bob")
        assert [e["id"] for e in gw.client.get("/api/evaluations?queue=sales", headers=team["bob"]).json()] == [
            ev["id"]
        ]
        assert gw.client.get("/api/evaluations/summary", headers=team["bob"]).json()["agents"] == [
            {"agent": "alice", "count": 1, "average": 65.0}
        ]

    def test_the_event_goes_to_the_agent_and_supervisors_only(self, gw: Gateway, team):
        ix = handled(gw, team["alice"])
        cursor = gw.client.get("/api/queues/sales/interactions?state=completed", headers=team["sam"]).json()["cursor"]
        evaluate(gw, team["sam"], ix["id"], {"greeting": True, "accuracy": 4, "tone": 5})
        sessions = gw.app.state.sessions

        def seen(username: str) -> list[str]:
            async def read():
                return await events_seen_by(sessions, await sessions.store.get_user(username), cursor)

            return [
                e.type for e in gw.call(read).events if e.interaction is not None
            ]  # not the live figures the gateway publishes meanwhile

        assert seen("alice") == seen("sam") == ["interaction.evaluated"]
        assert seen("bob") == []

    def test_rollups_per_agent_and_queue(self, gw: Gateway, team):
        gw.client.put("/api/queues/billing/evaluation-form", json=FORM, headers=team["sam"])
        # Scores by hand (weights 1, 3, 1 over 5); alice (100 + 30) / 2 = 65, bob (85 + 20) / 2 = 52.5,
        # sales (100 + 30 + 85) / 3 = 71.67.
        plan = [
            ("alice", "sales", {"greeting": True, "accuracy": 4, "tone": 5}),  # 100
            ("alice", "sales", {"greeting": False, "accuracy": 2, "tone": 0}),  # (0 + 1.5 + 0) / 5 = 30
            ("bob", "sales", {"greeting": True, "accuracy": 3, "tone": 5}),  # (1 + 2.25 + 1) / 5 = 85
            ("bob", "billing", {"greeting": True, "accuracy": 0, "tone": 0}),
        ]  # 1 / 5 = 20
        for agent, queue, answers in plan:
            evaluate(gw, team["sam"], handled(gw, team[agent], queue)["id"], answers)
        r = gw.client.get("/api/evaluations/summary", headers=team["sam"])
        assert r.status_code == 200, r.text
        assert r.json() == {
            "agents": [{"agent": "alice", "count": 2, "average": 65.0}, {"agent": "bob", "count": 2, "average": 52.5}],
            "queues": [
                {"queue_id": "billing", "count": 1, "average": 20.0},
                {"queue_id": "sales", "count": 3, "average": 71.67},
            ],
        }
        sales = gw.client.get("/api/evaluations/summary?queue=sales", headers=team["sam"]).json()
        assert sales["agents"] == [
            {"agent": "alice", "count": 2, "average": 65.0},
            {"agent": "bob", "count": 1, "average": 85.0},
        ]
        assert gw.client.get("/api/evaluations/summary", headers=team["vic"]).json()["queues"] == [
            {"queue_id": "billing", "count": 1, "average": 20.0}
        ]
        assert (
            "roll-ups" in assert_error(gw.client.get("/api/evaluations/summary", headers=team["alice"]), 403)["detail"]
        )
