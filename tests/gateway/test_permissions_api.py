"""Rights over HTTP: each right allowed by default, refused with a 403 naming it once an admin withdraws it, allowed
again once restored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from channels.voicemail import recording_path
from sessions.model import Recording
from sessions.permissions import Right
from tests.gateway.conftest import PAIR_ADMIN, Gateway, assert_error
from tests.gateway.test_multiprocess import login

AGENT_DEFAULTS = {r.value: r is not Right.EVALUATE for r in Right}


class World:
    """Queues sales and billing; alice (agent of sales), bob (agent of sales), a completed and a claimed call of
    alice's."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        gw.queue("sales", phone_number="+15550001000")  # a follow-up call comes from it
        gw.queue("billing")
        self.alice = gw.agent("alice", ["sales"])
        self.bob = gw.agent("bob", ["sales"])
        # Alice claims call after call, some of which stay with her: room for them (a manual claim respects capacity).
        assert gw.client.patch("/api/users/alice", json={"capacity": {"call": 10}}, headers=gw.admin).status_code == 200

    def claimed(self) -> str:
        ix = self.gw.inbound("sales")["id"]
        assert self.gw.client.post(f"/api/interactions/{ix}/claim", headers=self.alice).status_code == 200
        return ix

    def completed(self) -> str:
        ix = self.claimed()
        self.gw.client.post(f"/api/interactions/{ix}/end", json={"outcome": "resolved"}, headers=self.alice)
        assert (
            self.gw.client.post(f"/api/interactions/{ix}/complete", headers=self.alice).json()["state"] == "completed"
        )
        return ix

    def recorded(self) -> str:
        ix = self.completed()

        async def attach():
            await self.gw.app.state.sessions.attach_recording(
                ix, Recording(id="RE1", at=datetime.now(UTC), uri=f"/api/interactions/{ix}/recordings/RE1")
            )

        self.gw.call(attach)
        path = recording_path(self.gw.app.state.settings.data_dir, "RE1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF....WAVE")
        return ix

    def patch(self, body: dict, headers: dict | None = None):
        return self.gw.client.patch("/api/permissions", json=body, headers=headers or self.gw.admin)


@pytest.fixture
def world(gw: Gateway) -> World:
    return World(gw)


def _create_outbound(w: World) -> Callable[[], object]:
    return lambda: w.gw.client.post(
        "/api/interactions",
        json={"queue_id": "sales", "type": "messaging", "subtype": "text", "customer": {"phone": "+14155550100"}},
        headers=w.alice,
    )


def _edit_completed(w: World) -> Callable[[], object]:
    ix = w.completed()
    subjects = iter(f"Refund {n}" for n in range(10))  # each edit changes something
    return lambda: w.gw.client.patch(f"/api/interactions/{ix}", json={"subject": next(subjects)}, headers=w.alice)


def _clone_completed(w: World) -> Callable[[], object]:
    ix = w.completed()
    return lambda: w.gw.client.post(f"/api/interactions/{ix}/clone", headers=w.alice)


def _transfer_to_queue(w: World) -> Callable[[], object]:
    return lambda: w.gw.client.post(
        f"/api/interactions/{w.claimed()}/transfer",
        json={"target": {"kind": "queue", "id": "billing"}},
        headers=w.alice,
    )


def _transfer_external(w: World) -> Callable[[], object]:
    # A warm consult with an outside number: refused before anything dials.
    return lambda: w.gw.client.post(
        f"/api/interactions/{w.claimed()}/transfer",
        json={"target": {"kind": "external", "id": "+14155550199"}, "mode": "warm"},
        headers=w.alice,
    )


def _listen_recordings(w: World) -> Callable[[], object]:
    ix = w.recorded()
    return lambda: w.gw.client.get(f"/api/interactions/{ix}/recordings/RE1", headers=w.alice)


COMMANDS = {
    Right.CREATE_OUTBOUND: _create_outbound,
    Right.EDIT_COMPLETED: _edit_completed,
    Right.CLONE_COMPLETED: _clone_completed,
    Right.TRANSFER_TO_QUEUE: _transfer_to_queue,
    Right.TRANSFER_EXTERNAL: _transfer_external,
    Right.LISTEN_RECORDINGS: _listen_recordings,
}


def allowed(response) -> None:
    assert 200 <= response.status_code < 300, response.text


@pytest.mark.parametrize("right", list(COMMANDS), ids=lambda r: r.value)
def test_each_right_is_allowed_by_default_refused_when_withdrawn_and_allowed_again(world: World, right: Right):
    command = COMMANDS[right](world)
    allowed(command())
    assert world.patch({"agent": {right.value: False}}).json()["roles"]["agent"][right.value] is False
    body = assert_error(command(), 403, "forbidden")
    assert body["detail"].endswith(f"needs the right {right.value}, which role agent does not have."), body
    assert world.patch({"agent": {right.value: None}}).json()["roles"]["agent"][right.value] is True
    allowed(command())


def test_a_withdrawn_transfer_right_leaves_the_interaction_where_it_was(world: World):
    ix = world.claimed()
    world.patch({"agent": {"transfer_to_queue": False}})
    assert_error(
        world.gw.client.post(
            f"/api/interactions/{ix}/transfer", json={"target": {"kind": "queue", "id": "billing"}}, headers=world.alice
        ),
        403,
    )
    after = world.gw.client.get(f"/api/interactions/{ix}", headers=world.alice).json()
    assert (after["queue_id"], after["status"], after["assigned_to"]) == ("sales", "claimed", "alice")
    r = world.gw.client.post(
        f"/api/interactions/{ix}/transfer", json={"target": {"kind": "user", "id": "bob"}}, headers=world.alice
    )
    assert r.status_code == 200 and r.json()["offered_to"] == "bob", "a transfer within the queue needs no right"


def test_everyone_reads_the_table_and_their_own_rights(world: World):
    mine = world.gw.client.get("/api/permissions", headers=world.alice).json()
    assert mine["mine"] == AGENT_DEFAULTS and mine["roles"]["agent"] == AGENT_DEFAULTS
    assert all(mine["roles"]["admin"].values()) and all(mine["roles"]["supervisor"].values())
    assert (
        set(mine["rights"]) == {r.value for r in Right}
        and mine["rights"]["clone_completed"] == "Cloning completed interactions"
    )
    assert world.gw.client.get("/api/permissions", headers=world.gw.admin).json()["mine"] == {
        r.value: True for r in Right
    }
    assert_error(world.gw.client.get("/api/permissions"), 401)


def test_a_merge_patch_changes_only_what_it_names(world: World):
    world.patch({"agent": {"clone_completed": False}})
    table = world.patch({"agent": {"evaluate": True}, "supervisor": {"transfer_external": False}}).json()["roles"]
    assert table["agent"] == {**AGENT_DEFAULTS, "clone_completed": False, "evaluate": True}
    assert table["supervisor"] == {**{r.value: True for r in Right}, "transfer_external": False}
    assert world.patch({}).json()["roles"] == table
    assert world.patch({"agent": None}).json()["roles"]["agent"] == AGENT_DEFAULTS, "null restores the role's defaults"


def test_only_admins_change_rights(world: World):
    sup = world.gw.agent("sam", ["sales"], role="supervisor")
    for who in (world.alice, sup):
        assert_error(world.patch({"agent": {"evaluate": True}}, headers=who), 403, "forbidden")
    assert world.gw.client.get("/api/permissions", headers=world.alice).json()["mine"] == AGENT_DEFAULTS


@pytest.mark.parametrize(
    "body",
    [
        {"agent": {"clone_completed": False, "fly": True}},
        {"guest": {"evaluate": True}},
        {"agent": {"clone_completed": "no"}},
        {"agent": {"clone_completed": 0}},
        {"agent": ["clone_completed"]},
        {"admin": {"clone_completed": False}},
        ["agent"],
    ],
)
def test_bad_input_is_a_422_that_changes_nothing(world: World, body):
    before = world.gw.client.get("/api/permissions", headers=world.gw.admin).json()
    assert_error(world.patch(body), 422)
    assert world.gw.client.get("/api/permissions", headers=world.gw.admin).json() == before


def test_malformed_json_is_a_400(world: World):
    r = world.gw.client.patch(
        "/api/permissions", content=b"{not json", headers={**world.gw.admin, "Content-Type": "application/json"}
    )
    assert_error(r, 400, "malformed_json")


def test_the_api_is_described(world: World):
    paths = world.gw.client.get("/openapi.json").json()["paths"]
    assert {"get", "patch"} <= set(paths["/api/permissions"])


async def test_a_change_on_one_process_applies_to_the_next_request_on_the_other(pair):
    """Two real processes on PostgreSQL and Redis: no process keeps rights the other one changed."""
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=PAIR_ADMIN)
        alice = await login(http, a.url, "alice")
        outbound = {"queue_id": "sales", "type": "messaging", "subtype": "text", "customer": {"phone": "+14155550100"}}
        assert (
            await http.post(f"{b.url}/api/interactions", json=outbound, headers=alice)
        ).status_code == 201  # b has read the rights once
        (
            await http.patch(f"{a.url}/api/permissions", json={"agent": {"create_outbound": False}}, headers=PAIR_ADMIN)
        ).raise_for_status()
        assert_error(await http.post(f"{b.url}/api/interactions", json=outbound, headers=alice), 403, "forbidden")
        assert (await http.get(f"{b.url}/api/permissions", headers=alice)).json()["mine"]["create_outbound"] is False
        (
            await http.patch(f"{b.url}/api/permissions", json={"agent": {"create_outbound": None}}, headers=PAIR_ADMIN)
        ).raise_for_status()
        assert (await http.post(f"{a.url}/api/interactions", json=outbound, headers=alice)).status_code == 201
