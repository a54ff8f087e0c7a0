"""Switching channel and cloning reach the customer, through HTTP, with Twilio's REST API played by
tests/fake_twilio.py.

What Twilio receives is the proof: a switch to text or a text follow-up
sends SMS from the queue's number to the customer's phone; a switch to a call
or a call follow-up dials the customer; the customer's replies come back into
the same interaction.  A switch or clone that cannot reach anyone is refused
(422, saying why) before the customer's widget is told anything.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import WebSocketTestSession

from sessions.model import CommType, Customer, Direction, Subtype
from tests.channels import twilio_scenario
from tests.channels.twilio_scenario import CUSTOMER, SALES_NUMBER, Twilio, agent_online
from tests.gateway.conftest import Gateway, assert_error

#: The gateway wired to the fake Twilio, as the Twilio channel tests use it (queue sales answers on SALES_NUMBER).
fake, twilio = twilio_scenario.fake, twilio_scenario.twilio


def frame(ws: WebSocketTestSession, type_: str) -> dict[str, Any]:
    """The widget's next frame of that type (others skipped)."""
    while True:
        f = ws.receive_json()
        if f["type"] == type_:
            return f


def start_chat(t: Twilio, ws: WebSocketTestSession, phone: str | None = CUSTOMER) -> str:
    """A customer starts a web chat in the widget (routed to sales); returns the interaction id."""
    t.gw.client.put("/api/routing", json={"default_queue": "sales"}, headers=t.gw.admin).raise_for_status()
    ws.send_json({"type": "start", "name": "Dan", "email": "dan@example.com", **({"phone": phone} if phone else {})})
    return frame(ws, "session")["interaction_id"]


def claimed_chat(t: Twilio, ws: WebSocketTestSession, agent: dict[str, str], phone: str | None = CUSTOMER) -> str:
    """A web chat started on ``ws`` and claimed by ``agent`` while the customer is still there; returns its API URL."""
    url = f"/api/interactions/{start_chat(t, ws, phone)}"
    t.gw.client.post(f"{url}/claim", headers=agent)
    return url


def left_chat(t: Twilio, phone: str | None = CUSTOMER) -> str:
    """A web chat whose customer has closed the widget; returns its API URL."""
    with t.gw.client.websocket_connect("/ws/chat") as ws:
        return f"/api/interactions/{start_chat(t, ws, phone)}"


def done(gw: Gateway, url: str, headers: dict[str, str]) -> None:
    assert gw.client.post(f"{url}/end", json={"outcome": "resolved"}, headers=headers).status_code == 200
    assert gw.client.post(f"{url}/complete", headers=headers).status_code == 200


class TestSwitch:
    def test_a_web_chat_continues_by_text_from_the_queues_number_and_the_replies_thread_back(self, twilio: Twilio):
        alice = agent_online(twilio)
        with twilio.gw.client.websocket_connect("/ws/chat") as ws:
            url = claimed_chat(twilio, ws, alice)
            r = twilio.gw.client.post(f"{url}/switch", json={"type": "messaging", "subtype": "text"}, headers=alice)
            assert r.status_code == 200 and r.json()["to_address"] == SALES_NUMBER
            assert frame(ws, "channel") == {"type": "channel", "channel": "messaging/text", "phone": CUSTOMER}
        sent = twilio.gw.client.post(
            f"{url}/messages", json={"body": "Here is your tracking link"}, headers=alice
        ).json()["messages"][-1]
        assert (sent["status"], sent["error_code"]) == ("queued", None)
        [sms] = twilio.fake.messages
        assert (sms["From"], sms["To"], sms["Body"]) == (SALES_NUMBER, CUSTOMER, "Here is your tracking link")
        assert twilio.text("Got it, thanks", message_sid="SM900").status_code == 200
        after = twilio.gw.client.get(url, headers=alice).json()
        assert [m["body"] for m in after["messages"]] == ["Here is your tracking link", "Got it, thanks"]
        assert [ix["id"] for ix in twilio.interactions()] == [after["id"]], "the reply joined the same interaction"

    def test_a_chat_without_the_customers_phone_is_refused_and_the_widget_is_told_nothing(self, twilio: Twilio):
        alice = agent_online(twilio)
        with twilio.gw.client.websocket_connect("/ws/chat") as ws:
            url = claimed_chat(twilio, ws, alice, phone=None)
            before = twilio.gw.client.get(url, headers=alice).json()
            for channel in ({"type": "messaging", "subtype": "text"}, {"type": "call", "subtype": "phone"}):
                body = assert_error(twilio.gw.client.post(f"{url}/switch", json=channel, headers=alice), 422, "invalid")
                assert "the customer has no phone number" in body["detail"]
            assert twilio.gw.client.get(url, headers=alice).json() == before
            twilio.gw.client.post(f"{url}/messages", json={"body": "Still here by chat"}, headers=alice)
            f = ws.receive_json()
            while f["type"] in ("agent_joined", "typing", "receipt"):
                f = ws.receive_json()
            assert (f["type"], f["body"]) == ("message", "Still here by chat"), (
                "no channel notice came before the agent's next message"
            )
        assert (twilio.fake.messages, twilio.fake.calls) == ([], [])

    def test_a_web_chat_switched_to_a_call_dials_the_customer(self, twilio: Twilio):
        alice = agent_online(twilio)
        with twilio.gw.client.websocket_connect("/ws/chat") as ws:
            url = claimed_chat(twilio, ws, alice)
            r = twilio.gw.client.post(f"{url}/switch", json={"type": "call", "subtype": "phone"}, headers=alice)
            assert r.status_code == 200 and (r.json()["type"], r.json()["subtype"]) == ("call", "phone")
            assert frame(ws, "channel")["channel"] == "call/phone"
        [call] = twilio.fake.calls
        assert (call["From"], call["To"]) == (SALES_NUMBER, CUSTOMER) and "<Stream" in call["Twiml"]
        assert r.json()["activity"][-1]["data"]["call_sid"] == twilio.fake.call_sids[0]

    def test_a_text_switched_to_a_call_dials_the_customer(self, twilio: Twilio):
        _ix, url, alice = twilio.claimed(lambda: twilio.text("Can you call me?"))
        assert (
            twilio.gw.client.post(f"{url}/switch", json={"type": "call", "subtype": "phone"}, headers=alice).status_code
            == 200
        )
        [call] = twilio.fake.calls
        assert (call["From"], call["To"]) == (SALES_NUMBER, CUSTOMER)

    def test_a_call_switched_to_text_texts_from_the_number_called(self, twilio: Twilio):
        _ix, url, alice = twilio.claimed(twilio.call)
        twilio.gw.client.post(f"{url}/switch", json={"type": "messaging", "subtype": "text"}, headers=alice)
        twilio.gw.client.post(f"{url}/messages", json={"body": "As promised"}, headers=alice)
        [sms] = twilio.fake.messages
        assert (sms["From"], sms["To"]) == (SALES_NUMBER, CUSTOMER)

    def test_a_text_goes_to_chat_only_with_a_widget(self, twilio: Twilio):
        _ix, url, alice = twilio.claimed(lambda: twilio.text("hello"))
        body = assert_error(
            twilio.gw.client.post(f"{url}/switch", json={"type": "messaging", "subtype": "chat"}, headers=alice),
            422,
            "invalid",
        )
        assert "no chat widget is attached" in body["detail"]

    def test_a_call_the_provider_cannot_place_is_kept_with_the_reason(self, gw: Gateway):
        """No Twilio configured: the switch stands, and the feed says why no call went out (as for an outbound call)."""
        gw.queue("sales", phone_number=SALES_NUMBER)
        alice = gw.agent("alice", ["sales"])
        chat = gw.call(
            lambda: gw.app.state.sessions.create(
                None,
                queue_id="sales",
                direction=Direction.INBOUND,
                type=CommType.MESSAGING,
                subtype=Subtype.CHAT,
                customer=Customer(phone=CUSTOMER),
            )
        ).interaction
        url = f"/api/interactions/{chat.id}"
        gw.client.post(f"{url}/claim", headers=alice)
        r = gw.client.post(f"{url}/switch", json={"type": "call", "subtype": "phone"}, headers=alice)
        assert r.status_code == 200 and r.json()["subtype"] == "phone"
        last = r.json()["activity"][-1]
        assert (last["kind"], last["data"]["status"], last["data"]["error"]) == (
            "call_status",
            "failed",
            "not_configured",
        )


class TestClone:
    def test_a_completed_call_cloned_dials_the_customer(self, twilio: Twilio):
        ix, url, alice = twilio.claimed(twilio.call)
        done(twilio.gw, url, alice)
        r = twilio.gw.client.post(f"{url}/clone", headers=alice)
        assert r.status_code == 201 and (r.json()["type"], r.json()["subtype"], r.json()["parent_id"]) == (
            "call",
            "phone",
            ix["id"],
        )
        [call] = twilio.fake.calls
        assert (call["From"], call["To"]) == (SALES_NUMBER, CUSTOMER)
        assert r.json()["activity"][-1]["data"]["call_sid"] == twilio.fake.call_sids[0]

    def test_a_voicemail_cloned_calls_the_caller_back(self, twilio: Twilio):
        twilio.call()  # nobody online: a voicemail
        alice = twilio.gw.agent("alice", ["sales"])
        [vm] = twilio.interactions()
        url = f"/api/interactions/{vm['id']}"
        twilio.gw.client.post(f"{url}/claim", headers=alice)
        done(twilio.gw, url, alice)
        assert twilio.gw.client.post(f"{url}/clone", headers=alice).json()["type"] == "call"
        [call] = twilio.fake.calls
        assert (call["From"], call["To"]) == (SALES_NUMBER, CUSTOMER)

    def test_a_completed_chat_cloned_is_a_text_whose_replies_go_by_sms(self, twilio: Twilio):
        alice = agent_online(twilio)
        url = left_chat(twilio)
        twilio.gw.client.post(f"{url}/claim", headers=alice)
        done(twilio.gw, url, alice)
        child = twilio.gw.client.post(f"{url}/clone", headers=alice).json()
        assert (child["type"], child["subtype"], child["to_address"]) == ("messaging", "text", SALES_NUMBER)
        twilio.gw.client.post(
            f"/api/interactions/{child['id']}/messages", json={"body": "Following up on our chat"}, headers=alice
        )
        [sms] = twilio.fake.messages
        assert (sms["From"], sms["To"], sms["Body"]) == (SALES_NUMBER, CUSTOMER, "Following up on our chat")
        twilio.text("Thanks!", message_sid="SM901")
        assert [
            m["body"]
            for m in twilio.gw.client.get(f"/api/interactions/{child['id']}", headers=alice).json()["messages"]
        ] == ["Following up on our chat", "Thanks!"]

    def test_a_completed_chat_nobody_can_text_is_not_cloned(self, twilio: Twilio):
        alice = agent_online(twilio)
        url = left_chat(twilio, phone=None)
        twilio.gw.client.post(f"{url}/claim", headers=alice)
        done(twilio.gw, url, alice)
        body = assert_error(twilio.gw.client.post(f"{url}/clone", headers=alice), 422, "invalid")
        assert "the customer has no phone number" in body["detail"]
        assert len(twilio.interactions()) == 1

    def test_a_call_clone_the_provider_cannot_place_is_kept_with_the_reason(self, gw: Gateway):
        """No Twilio configured: the follow-up exists, and its feed says why no call went out (as for an outbound
        call)."""
        gw.queue("sales", phone_number=SALES_NUMBER)
        alice = gw.agent("alice", ["sales"])
        url = f"/api/interactions/{gw.inbound('sales')['id']}"
        gw.client.post(f"{url}/claim", headers=alice)
        done(gw, url, alice)
        r = gw.client.post(f"{url}/clone", headers=alice)
        assert r.status_code == 201
        last = r.json()["activity"][-1]
        assert (last["kind"], last["data"]["status"], last["data"]["error"]) == (
            "call_status",
            "failed",
            "not_configured",
        )


class TestNobodyToReach:
    def test_a_web_chat_cannot_be_sent_to_an_outside_number(self, twilio: Twilio):
        alice = agent_online(twilio)
        url = left_chat(twilio)
        twilio.gw.client.post(f"{url}/claim", headers=alice)
        r = twilio.gw.client.post(
            f"{url}/transfer", json={"target": {"kind": "external", "id": "+442071234567"}}, headers=alice
        )
        assert "Only calls and texts can go to an outside number" in assert_error(r, 422, "invalid")["detail"]
        assert twilio.gw.client.get(url, headers=alice).json()["status"] == "claimed"

    def test_an_outbound_chat_is_refused(self, twilio: Twilio):
        alice = agent_online(twilio)
        r = twilio.gw.client.post(
            "/api/interactions",
            json={"queue_id": "sales", "type": "messaging", "subtype": "chat", "customer": {"phone": CUSTOMER}},
            headers=alice,
        )
        assert "would reach nobody" in assert_error(r, 422, "invalid")["detail"]
        assert twilio.interactions() == []
