"""Twilio SMS, driven exactly as Twilio does: signed form posts in, REST calls out.

Texts threaded into one interaction, replies sent or refused, control characters removed, long texts truncated.
"""

from __future__ import annotations

from sessions.text import MAX_TEXT, TRUNCATION_MARKER
from tests.channels import twilio_scenario as scenario
from tests.channels.twilio_scenario import CUSTOMER, SALES_NUMBER, Twilio, agent_online
from tests.gateway.conftest import assert_error

#: The scenario (tests/channels/twilio_scenario.py): a gateway with queue "sales" and a fake Twilio REST API.
fake, twilio = scenario.fake, scenario.twilio


class TestSms:
    def test_texts_thread_into_one_interaction_and_replies_go_out(self, twilio: Twilio):
        alice = agent_online(twilio)
        r = twilio.text("Hi, my order is late")
        assert r.status_code == 200 and "<Response" in r.text
        twilio.text("Order 42", message_sid="SM101")
        twilio.text("Order 42", message_sid="SM101")  # a retry
        [ix] = twilio.interactions()
        assert (ix["type"], ix["subtype"]) == ("messaging", "text")
        assert [m["body"] for m in ix["messages"]] == ["Hi, my order is late", "Order 42"]
        twilio.gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice)
        reply = twilio.gw.client.post(
            f"/api/interactions/{ix['id']}/messages", json={"body": "On its way!"}, headers=alice
        ).json()
        [sent] = twilio.fake.messages
        assert (sent["To"], sent["From"], sent["Body"]) == (CUSTOMER, SALES_NUMBER, "On its way!")
        out = reply["messages"][-1]
        assert out["status"] == "queued" and out["provider_id"].startswith("SM")
        for status in ("sent", "delivered"):
            assert (
                twilio.post("sms/status", {"MessageSid": out["provider_id"], "MessageStatus": status}).status_code
                == 204
            )
        [ix] = twilio.interactions()
        assert ix["messages"][-1]["status"] == "delivered"

    def test_provider_refusal_marks_the_reply_failed_with_its_code(self, twilio: Twilio):
        alice = agent_online(twilio)
        twilio.text("hello")
        [ix] = twilio.interactions()
        twilio.gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice)
        twilio.fake.refuse_messages = 21211
        reply = twilio.gw.client.post(
            f"/api/interactions/{ix['id']}/messages", json={"body": "hi"}, headers=alice
        ).json()
        assert (reply["messages"][-1]["status"], reply["messages"][-1]["error_code"]) == ("failed", "21211")
        assert reply["messages"][-1]["body"] == "hi", "the reply is kept"

    def test_text_after_completion_opens_a_new_linked_interaction(self, twilio: Twilio):
        alice = agent_online(twilio)
        twilio.text("first")
        [first] = twilio.interactions()
        for step, body in (("claim", None), ("end", {"outcome": "resolved"}), ("complete", None)):
            twilio.gw.client.post(f"/api/interactions/{first['id']}/{step}", json=body, headers=alice)
        twilio.text("one more thing", message_sid="SM200")
        new = next(i for i in twilio.interactions() if i["id"] != first["id"])
        assert (
            new["parent_id"] == first["id"]
            and new["state"] == "active"
            and new["messages"][0]["body"] == "one more thing"
        )

    def test_unknown_number_without_default_queue_gets_a_polite_reply_and_nothing_stored(self, twilio: Twilio):
        r = twilio.text("hi", to="+15559999999")
        assert r.status_code == 200 and "<Message>Sorry, we can't take your message right now" in r.text
        assert "default queue" not in r.text, "the configuration gap is for operators, not the texter"
        assert twilio.interactions() == []

    def test_a_text_over_the_limit_opens_its_interaction_with_the_text_truncated_and_a_marker(self, twilio: Twilio):
        body = "".join(str(i % 10) for i in range(12_000))
        first = twilio.text(body)
        assert first.status_code == 200 and "<Response" in first.text
        assert twilio.text(body).text == first.text  # Twilio's retry: the same answer, stored once
        [ix] = twilio.interactions()
        [message] = ix["messages"]
        assert message["body"] == body[: MAX_TEXT - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
        assert len(message["body"]) == MAX_TEXT

    def test_a_text_over_the_limit_joins_an_active_conversation_truncated(self, twilio: Twilio):
        twilio.text("hello")
        assert twilio.text("y" * 50_000, message_sid="SM101").status_code == 200
        [ix] = twilio.interactions()
        assert [m["body"] for m in ix["messages"]] == [
            "hello",
            "y" * (MAX_TEXT - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER,
        ]

    def test_control_characters_are_removed_newline_and_tab_kept(self, twilio: Twilio):
        assert twilio.text("my\x00 order\x07\r\nis\tlate\x1b\x7f\x0c").status_code == 200
        [ix] = twilio.interactions()
        assert [m["body"] for m in ix["messages"]] == ["my order\nis\tlate"]

    def test_agent_replies_are_cleaned_and_one_of_nothing_but_control_characters_is_refused(self, twilio: Twilio):
        _ix, url, alice = twilio.claimed(lambda: twilio.text("hello"))
        r = twilio.gw.client.post(f"{url}/messages", json={"body": "On\x00 its\x1b way\r\n\tsoon"}, headers=alice)
        assert r.status_code == 201 and r.json()["messages"][-1]["body"] == "On its way\n\tsoon"
        assert twilio.fake.messages[-1]["Body"] == "On its way\n\tsoon"
        assert_error(twilio.gw.client.post(f"{url}/messages", json={"body": "\x00\x07"}, headers=alice), 422, "invalid")
        assert len(twilio.fake.messages) == 1 and len(twilio.interactions()[0]["messages"]) == 2
