"""Merging through the HTTP API, with the channels: a live chat is not cut off, and the customer's texts follow the
survivor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.request_validator import RequestValidator

from sessions.model import Direction
from tests.gateway.conftest import Gateway, assert_error, make_gateway
from tests.gateway.test_customers_api import PAT, chat_from, text_from

PUBLIC, TOKEN = "https://merge.example.com", "merge-twilio-token"
OUR = "+15550001111"


@pytest.fixture
def gw() -> Iterator[Gateway]:
    """A gateway that checks Twilio's signatures, so the texts below arrive as Twilio sends them."""
    yield from make_gateway(
        public_url=PUBLIC,
        twilio_account_sid="AC" + "5" * 32,
        twilio_auth_token=TOKEN,
        twilio_api_base="http://127.0.0.1:9",
    )


def text_in(gw: Gateway, sid: str, body: str) -> None:
    params = {"MessageSid": sid, "From": PAT["phone"], "To": OUR, "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio/sms", params)
    r = gw.client.post("/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text


def bodies(gw: Gateway, ix_id: str) -> list[str]:
    return [m["body"] for m in gw.client.get(f"/api/interactions/{ix_id}", headers=gw.admin).json()["messages"]]


def test_a_chat_whose_customer_is_in_the_widget_is_409_and_keeps_going(gw: Gateway):
    gw.queue("a")
    alice = gw.agent("alice", ["a"])
    chat, text = chat_from(gw, "a", **PAT), text_from(gw, "a", **PAT)
    for ix in (chat, text):
        assert gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice).status_code == 200
    r = gw.client.post(f"/api/interactions/{text['id']}/merge", json={"from": chat["id"]}, headers=alice)
    assert "still in the chat" in assert_error(r, 409, "illegal_transition")["detail"]
    after = gw.client.get(f"/api/interactions/{chat['id']}", headers=alice).json()
    assert (after["state"], after["status"], after["merged_into"]) == ("active", "claimed", None)

    async def customer_writes():
        await gw.app.state.sessions.add_message(None, chat["id"], direction=Direction.INBOUND, body="still there?")

    gw.call(customer_writes)  # the chat goes on
    assert bodies(gw, chat["id"]) == ["still there?"]
    assert (
        gw.client.post(f"/api/interactions/{chat['id']}/merge", json={"from": text["id"]}, headers=alice).status_code
        == 200
    )  # the other way


def test_after_a_merge_the_customers_next_text_lands_in_the_survivor(gw: Gateway):
    gw.queue("a", phone_number=OUR)
    alice = gw.agent("alice", ["a"])
    assert gw.client.put("/api/routing", json={"default_queue": "a"}, headers=gw.admin).status_code == 200
    text_in(gw, "SM1", "first")
    [texted] = gw.client.get("/api/queues/a/interactions", headers=alice).json()["items"]
    chat = chat_from(gw, "a", **PAT)
    assert gw.client.post(f"/api/interactions/{chat['id']}/claim", headers=alice).status_code == 200
    r = gw.client.post(f"/api/interactions/{chat['id']}/merge", json={"from": texted["id"]}, headers=alice)
    assert r.status_code == 200, r.text
    text_in(gw, "SM2", "second")
    assert bodies(gw, chat["id"]) == ["first", "second"]
    assert [i["id"] for i in gw.client.get("/api/queues/a/interactions", headers=alice).json()["items"]] == [
        chat["id"]
    ], "no new interaction"
