"""Twilio voice, driven exactly as Twilio does: signed form posts in, REST calls out.

Webhook signatures first, then calls in and out, and a call that continues by SMS.  Voicemail and SMS have
test_twilio_voicemail.py and test_twilio_sms.py; the scenario is twilio_scenario.py.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from sessions.model import State
from tests.channels import twilio_scenario as scenario
from tests.channels.twilio_scenario import CUSTOMER, PUBLIC, SALES_NUMBER, SID, Twilio, agent_online
from tests.databases import sqlite_store
from tests.gateway.conftest import ADMIN_TOKEN, assert_error

#: The scenario (tests/channels/twilio_scenario.py): a gateway with queue "sales" and a fake Twilio REST API.
fake, twilio = scenario.fake, scenario.twilio


class TestSignatures:
    def test_forged_and_missing_signatures_are_refused_and_store_nothing(self, twilio: Twilio):
        r = twilio.post(
            "voice",
            {"CallSid": "CA1", "From": CUSTOMER, "To": SALES_NUMBER, "CallStatus": "ringing"},
            signature="forged",
        )
        assert_error(r, 403, "forbidden")
        r = twilio.gw.client.post(
            "/webhooks/twilio/sms", data={"MessageSid": "SM1", "From": CUSTOMER, "To": SALES_NUMBER, "Body": "hi"}
        )
        assert_error(r, 403)
        # Signed for other parameters than those sent: a tampered body.
        sig = twilio.validator.compute_signature(
            f"{PUBLIC}/webhooks/twilio/sms", {"MessageSid": "SM1", "From": CUSTOMER, "To": SALES_NUMBER, "Body": "hi"}
        )
        assert_error(
            twilio.post(
                "sms", {"MessageSid": "SM1", "From": CUSTOMER, "To": SALES_NUMBER, "Body": "pay me"}, signature=sig
            ),
            403,
        )
        assert twilio.interactions() == []

    def test_without_an_auth_token_webhooks_are_disabled(self, tmp_path):
        with TestClient(
            create_app(Settings(admin_token=ADMIN_TOKEN, data_dir=tmp_path), store=sqlite_store(tmp_path))
        ) as client:
            assert_error(client.post("/webhooks/twilio/voice", data={"CallSid": "CA1"}), 403)

    def test_signed_but_incomplete_is_a_400(self, twilio: Twilio):
        assert_error(twilio.post("voice", {"From": CUSTOMER}), 400, "invalid")

    def test_a_form_that_cannot_carry_a_signature_is_refused_not_a_500(self, twilio: Twilio):
        """A part declared in a charset that decodes to lone surrogates: no UTF-8 signature can cover it, so 403 and
        nothing stored."""
        fields = {"MessageSid": "SM1", "From": CUSTOMER, "To": SALES_NUMBER, "Body": "hi \\ud800 there"}
        body = (
            "".join(f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
            + "--XyZ--\r\n"
        )
        r = twilio.gw.client.post(
            "/webhooks/twilio/sms",
            content=body.encode(),
            headers={
                "Content-Type": "multipart/form-data; boundary=XyZ; charset=unicode_escape",
                "X-Twilio-Signature": "c2lnbmF0dXJl",
            },
        )
        assert_error(r, 403, "forbidden")
        assert twilio.interactions() == []

    def test_undecodable_bytes_in_a_signed_form_are_kept_as_text_not_a_500(self, twilio: Twilio):
        """Percent-escapes that are not UTF-8 decode to U+FFFD; raw bytes as Latin-1, whose C1 controls are then
        removed."""
        raw = (
            f"MessageSid=SM1&From={quote_plus(CUSTOMER)}&To={quote_plus(SALES_NUMBER)}&Body=caf%E9+%ED%A0%80+ok".encode()
            + b"\x85\x9b!"
        )
        params = dict(
            parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        )  # what the gateway reads, and Twilio would have signed
        signature = twilio.validator.compute_signature(f"{PUBLIC}/webhooks/twilio/sms", params)
        r = twilio.gw.client.post(
            "/webhooks/twilio/sms",
            content=raw,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        assert r.status_code == 200, r.text
        [ix] = twilio.interactions()
        assert [m["body"] for m in ix["messages"]] == ["caf\ufffd \ufffd\ufffd\ufffd ok!"]


class TestVoice:
    def test_inbound_call_is_stored_routed_and_bridged_to_the_media_stream(self, twilio: Twilio):
        agent_online(twilio)
        r = twilio.call()
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
        assert (
            '<Connect action="https://gw.example.com/webhooks/twilio/voice/stream-ended#rc=3&amp;rp=all" method="POST">'
            '<Stream url="wss://gw.example.com/webhooks/twilio/media">'
        ) in r.text, "a stream that closes under the call asks what next rather than ending it"
        [ix] = twilio.interactions()
        assert f'<Parameter name="interaction" value="{ix["id"]}" />' in r.text
        assert (ix["type"], ix["subtype"], ix["customer"]["phone"], ix["to_address"], ix["queue_id"]) == (
            "call",
            "phone",
            CUSTOMER,
            SALES_NUMBER,
            "sales",
        )

    def test_retried_call_webhook_has_one_effect(self, twilio: Twilio):
        agent_online(twilio)
        first = twilio.call()
        again = twilio.call()
        by_token = twilio.post(
            "voice",
            {"CallSid": "CA100", "From": CUSTOMER, "To": SALES_NUMBER, "CallStatus": "ringing"},
            headers={"I-Twilio-Idempotency-Token": "tok-1"},
        )
        assert first.text == again.text == by_token.text
        assert len(twilio.interactions()) == 1

    def test_a_number_no_queue_takes_hears_an_apology_and_nothing_is_stored(self, twilio: Twilio):
        r = twilio.call(to="+15559999999")  # no queue has the number and no default queue is set
        assert r.status_code == 200 and "<Say>Sorry, we can't take your call right now" in r.text
        assert "queue" not in r.text, "the configuration gap is for operators, not the caller"
        assert twilio.interactions() == []

    def test_caller_hanging_up_unanswered_is_an_abandon(self, twilio: Twilio):
        agent_online(twilio)
        twilio.call()
        for status in ("ringing", "completed", "completed"):  # the last one a retry
            r = twilio.post("voice/status", {"CallSid": "CA100", "CallStatus": status, "CallDuration": "12"})
            assert r.status_code == 204
        [ix] = twilio.interactions()
        assert ix["state"] == "completed" and ix["abandoned_at"] and ix["completed_by"] == "customer"
        assert [a["data"]["status"] for a in ix["activity"] if a["kind"] == "call_status"] == ["ringing", "completed"]

    def test_external_transfer_hands_the_live_call_to_the_number(self, twilio: Twilio):
        ix, _url, alice = twilio.claimed(twilio.call)
        r = twilio.gw.client.post(
            f"/api/interactions/{ix['id']}/transfer",
            json={"target": {"kind": "external", "id": "+442071234567"}},
            headers=alice,
        )
        assert r.json()["status"] == "wrap_up"
        [(sid, update)] = twilio.fake.updates
        assert sid == "CA100" and '<Dial callerId="+15550001000">+442071234567</Dial>' in update["Twiml"]

    def test_consulted_outside_number_reports_its_progress_into_the_consult_not_the_call(self, twilio: Twilio):
        ix, _url, alice = twilio.claimed(twilio.call)
        twilio.gw.client.post(
            f"/api/interactions/{ix['id']}/transfer",
            json={"target": {"kind": "external", "id": "+442071234567"}, "mode": "warm"},
            headers=alice,
        )
        [dialled] = twilio.fake.calls
        assert dialled["StatusCallback"] == f"{PUBLIC}/webhooks/twilio/voice/status"
        for _ in range(2):  # Twilio retries: one entry
            assert (
                twilio.post(
                    "voice/status", {"CallSid": twilio.fake.call_sids[0], "AccountSid": SID, "CallStatus": "no-answer"}
                ).status_code
                == 204
            )
        after = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
        [entry] = [a for a in after["activity"] if a["kind"] == "consult_status"]
        assert entry["detail"] == "Consulted number: no answer" and entry["data"]["status"] == "no-answer"
        assert (after["status"], after["assigned_to"], after["consult"]["target"]["id"]) == (
            "claimed",
            "alice",
            "+442071234567",
        ), "the customer's call is untouched"
        assert not [a for a in after["activity"] if a["kind"] == "call_status" and a["data"]["status"] == "no-answer"]

    def test_outbound_call_goes_through_the_rest_api_bridged_to_the_stream(self, twilio: Twilio):
        alice = agent_online(twilio)
        r = twilio.gw.client.post(
            "/api/interactions",
            json={"queue_id": "sales", "type": "call", "subtype": "phone", "customer": {"phone": CUSTOMER}},
            headers=alice,
        )
        assert r.status_code == 201
        [call] = twilio.fake.calls
        assert (call["To"], call["From"]) == (CUSTOMER, SALES_NUMBER) and "<Stream" in call["Twiml"]
        assert call["StatusCallback"] == f"{PUBLIC}/webhooks/twilio/voice/status"
        assert r.json()["activity"][-1]["data"]["call_sid"].startswith("CA")


class TestChannelSwitch:
    def test_a_call_continues_by_sms_and_back_as_one_interaction(self, twilio: Twilio):
        ix, url, alice = twilio.claimed(twilio.call)
        twilio.post(
            "voice/status", {"CallSid": "CA100", "CallStatus": "completed"}
        )  # the call ends; the conversation goes on
        twilio.gw.client.post(f"{url}/switch", json={"type": "messaging", "subtype": "text"}, headers=alice)
        twilio.gw.client.post(f"{url}/messages", json={"body": "Here is the link we talked about"}, headers=alice)
        assert twilio.fake.messages[-1]["To"] == CUSTOMER
        twilio.text("Thanks, got it")
        twilio.call(call_sid="CA200")  # and the customer calls back
        [after] = twilio.interactions()
        assert after["id"] == ix["id"] and after["state"] == "active"
        assert [m["body"] for m in after["messages"]] == ["Here is the link we talked about", "Thanks, got it"]
        assert [(c["from_subtype"], c["to_subtype"]) for c in after["channel_history"]] == [
            ("phone", "text"),
            ("text", "phone"),
        ]
        assert after["type"] == "call"


def test_completed_state_is_not_reopened_by_a_late_status(twilio: Twilio):
    agent_online(twilio)
    twilio.call()
    twilio.post("voice/status", {"CallSid": "CA100", "CallStatus": "no-answer"})
    twilio.post("voice/status", {"CallSid": "CA100", "CallStatus": "completed"})
    [ix] = twilio.interactions()
    assert ix["state"] == State.COMPLETED.value
