"""Twilio voice, SMS and voicemail, driven exactly as Twilio does: signed form posts in, REST calls out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, quote_plus

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.settings import Settings
from sessions import ManualClock
from sessions.model import State
from sessions.text import MAX_TEXT, TRUNCATION_MARKER
from tests.databases import sqlite_store
from tests.fake_twilio import AUDIO, FakeTwilio
from tests.gateway.conftest import ADMIN_TOKEN, Gateway, assert_error

PUBLIC = "https://gw.example.com"
SID, TOKEN = "AC" + "1" * 32, "twilio-auth-token"
SALES_NUMBER, CUSTOMER = "+15550001000", "+14155550100"


class Twilio:
    """Plays Twilio's side: signs and posts webhooks."""

    def __init__(self, gw: Gateway, fake: FakeTwilio) -> None:
        self.gw, self.fake = gw, fake
        self.validator = RequestValidator(TOKEN)

    def post(
        self, path: str, params: dict[str, str], *, signature: str | None = None, headers: dict[str, str] | None = None
    ):
        url = f"{PUBLIC}/webhooks/twilio/{path}"
        sig = self.validator.compute_signature(url, params) if signature is None else signature
        return self.gw.client.post(
            f"/webhooks/twilio/{path}", data=params, headers={"X-Twilio-Signature": sig, **(headers or {})}
        )

    def call(self, call_sid: str = "CA100", caller: str = CUSTOMER, to: str = SALES_NUMBER, status: str = "ringing"):
        return self.post(
            "voice",
            {
                "CallSid": call_sid,
                "AccountSid": SID,
                "From": caller,
                "To": to,
                "CallStatus": status,
                "Direction": "inbound",
            },
        )

    def text(self, body: str, message_sid: str = "SM100", sender: str = CUSTOMER, to: str = SALES_NUMBER):
        return self.post(
            "sms",
            {"MessageSid": message_sid, "AccountSid": SID, "From": sender, "To": to, "Body": body, "NumMedia": "0"},
        )

    def claimed(self, arrive: Callable[[], object]) -> tuple[dict, str, dict[str, str]]:
        """What ``arrive`` starts (a call, a text), claimed by alice, online.

        Returns the interaction as listed, its API URL and alice's headers.
        """
        alice = agent_online(self)
        arrive()
        [ix] = self.interactions()
        url = f"/api/interactions/{ix['id']}"
        self.gw.client.post(f"{url}/claim", headers=alice)
        return ix, url, alice

    def interactions(self) -> list[dict]:
        out = []
        for state in ("active", "completed"):
            r = self.gw.client.get(f"/api/queues/sales/interactions?state={state}", headers=self.gw.admin)
            out += r.json()["items"]
        return out


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def twilio(fake: FakeTwilio, tmp_path) -> Iterator[Twilio]:
    settings = Settings(
        admin_token=ADMIN_TOKEN,
        public_url=PUBLIC,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_api_base=fake.url,
        data_dir=tmp_path,
        timer_interval=3600,
        download_retry_interval=3600,
    )
    clock = ManualClock()
    with TestClient(create_app(settings, store=sqlite_store(tmp_path), clock=clock)) as client:
        gw = Gateway(client)
        gw.queue("sales", phone_number=SALES_NUMBER, voicemail=True, transcription=True, voicemail_after=60)
        t = Twilio(gw, fake)
        t.clock = clock
        yield t


def agent_online(t: Twilio, username: str = "alice"):
    headers = t.gw.agent(username, ["sales"])
    user = t.gw.client.get("/api/me", headers=headers).json()
    t.gw.call(t.gw.app.state.sessions.connected, user["id"], "test-node", 3600)
    return headers


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
        assert '<Connect><Stream url="wss://gw.example.com/webhooks/twilio/media">' in r.text
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

    def test_unknown_number_hears_not_in_service_and_nothing_is_stored(self, twilio: Twilio):
        r = twilio.call(to="+15559999999")
        assert r.status_code == 200 and "not in service" in r.text
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


class TestVoicemail:
    def test_no_agent_available_records_a_voicemail_downloads_and_serves_it(self, twilio: Twilio, tmp_path):
        r = twilio.call()
        assert "<Record" in r.text and "Please leave a message" in r.text
        [ix] = twilio.interactions()
        assert (ix["type"], ix["subtype"]) == ("voicemail", "voicemail")
        params = {
            "CallSid": "CA100",
            "RecordingSid": "RE100",
            "RecordingUrl": f"{twilio.fake.url}/recordings/RE100",
            "RecordingStatus": "completed",
            "RecordingDuration": "7",
        }
        assert twilio.post("recording", params).status_code == 204
        twilio.post(
            "transcription",
            {
                "CallSid": "CA100",
                "RecordingSid": "RE100",
                "TranscriptionSid": "TR100",
                "TranscriptionStatus": "completed",
                "TranscriptionText": "Please call me back about my order",
            },
        )
        ix = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=twilio.gw.admin).json()
        [rec] = ix["recordings"]
        assert (rec["status"], rec["duration_seconds"], rec["uri"]) == (
            "stored",
            7.0,
            f"/api/interactions/{ix['id']}/recordings/RE100",
        )
        assert ix["transcripts"][0]["text"] == "Please call me back about my order"
        assert (tmp_path / "recordings" / "RE100.wav").read_bytes() == AUDIO
        alice = twilio.gw.agent("alice", ["sales"])
        audio = twilio.gw.client.get(rec["uri"], headers=alice)
        assert audio.status_code == 200 and audio.content == AUDIO
        twilio.gw.queue("other")
        outsider = twilio.gw.agent("olga", ["other"])
        assert_error(twilio.gw.client.get(rec["uri"], headers=outsider), 403)

    def overdue_call(self, twilio: Twilio) -> None:
        """A call that connects (alice is online) that nobody takes (she is away, bob lets it ring)."""
        alice = agent_online(twilio)
        twilio.gw.client.put("/api/me/presence", json={"status": "away"}, headers=alice)
        agent_online(twilio, "bob")
        assert "<Stream" in twilio.call().text

    def tick(self, twilio: Twilio) -> list:
        """One tick of the gateway's timers loop: the due timers, then the voice channel follows what they fired."""
        events = twilio.gw.call(twilio.gw.app.state.sessions.run_timers)
        twilio.gw.call(twilio.gw.app.state.webhooks.voice.follow, events)
        return events

    def test_call_unanswered_past_the_queue_limit_is_redirected_to_voicemail(self, twilio: Twilio):
        self.overdue_call(twilio)
        twilio.clock.advance(59)
        assert [e.type for e in self.tick(twilio) if e.type == "interaction.channel_switched"] == []
        assert twilio.fake.updates == []
        twilio.clock.advance(1)  # open, or still ringing for bob: either way unanswered
        [divert] = [e for e in self.tick(twilio) if e.type == "interaction.channel_switched"]
        assert divert.data == {"from": "call/phone", "to": "voicemail/voicemail", "reason": "not answered within 60s"}
        [(sid, update)] = twilio.fake.updates
        assert sid == "CA100" and "<Record" in update["Twiml"]
        [ix] = twilio.interactions()
        assert (ix["type"], ix["channel_history"][-1]["to_subtype"]) == ("voicemail", "voicemail")
        self.tick(twilio)
        assert len(twilio.fake.updates) == 1, "diverted and redirected once"

    def test_a_redirect_twilio_refuses_is_noted_in_the_feed(self, twilio: Twilio):
        self.overdue_call(twilio)
        twilio.fake.refuse_updates = 21220
        twilio.clock.advance(60)
        self.tick(twilio)
        [ix] = twilio.interactions()
        ix = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=twilio.gw.admin).json()
        assert ix["type"] == "voicemail"  # the divert stands; only the redirect failed
        note = ix["activity"][-1]
        assert (note["kind"], note["data"]["status"], note["data"]["error"]) == ("call_status", "failed", "21220")
        assert note["detail"].startswith("Call not sent to voicemail")

    def test_failed_download_keeps_the_recording_pending_and_the_retry_stores_it(self, twilio: Twilio, tmp_path):
        twilio.call()
        twilio.fake.fail_downloads = 2
        params = {
            "CallSid": "CA100",
            "RecordingSid": "RE200",
            "RecordingUrl": f"{twilio.fake.url}/recordings/RE200",
            "RecordingStatus": "completed",
        }
        assert twilio.post("recording", params).status_code == 204
        [ix] = twilio.interactions()
        assert ix["recordings"][0]["status"] == "pending" and ix["recordings"][0]["source_url"]
        assert_error(
            twilio.gw.client.get(f"/api/interactions/{ix['id']}/recordings/RE200", headers=twilio.gw.admin), 409
        )
        voicemail = twilio.gw.app.state.webhooks.voicemail
        assert twilio.gw.call(voicemail.retry_pending, "node") == 0  # the second failure
        assert twilio.gw.call(voicemail.retry_pending, "node") == 1
        [ix] = twilio.interactions()
        assert ix["recordings"][0]["status"] == "stored" and (tmp_path / "recordings" / "RE200.wav").exists()
        assert len(twilio.fake.downloads) == 3

    def test_transcriptions_are_cleaned_and_truncated_never_refused(self, twilio: Twilio):
        twilio.call()
        params = {
            "CallSid": "CA100",
            "RecordingSid": "RE100",
            "RecordingUrl": f"{twilio.fake.url}/recordings/RE100",
            "RecordingStatus": "completed",
        }
        assert twilio.post("recording", params).status_code == 204
        for sid, text in (("TR1", "Call me\x00 back\x07\r\nplease"), ("TR2", "z" * 20_000)):
            r = twilio.post(
                "transcription",
                {
                    "CallSid": "CA100",
                    "RecordingSid": "RE100",
                    "TranscriptionSid": sid,
                    "TranscriptionStatus": "completed",
                    "TranscriptionText": text,
                },
            )
            assert r.status_code == 204
        [ix] = twilio.interactions()
        assert [t["text"] for t in ix["transcripts"]] == [
            "Call me back\nplease",
            "z" * (MAX_TEXT - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER,
        ]

    def test_record_action_and_status_callback_attach_once(self, twilio: Twilio):
        twilio.call()
        base = {"CallSid": "CA100", "RecordingSid": "RE300", "RecordingUrl": f"{twilio.fake.url}/recordings/RE300"}
        action = twilio.post("recording", base)
        assert action.status_code == 200 and "<Hangup" in action.text
        twilio.post("recording", {**base, "RecordingStatus": "completed"})
        [ix] = twilio.interactions()
        assert len(ix["recordings"]) == 1


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

    def test_unknown_number_without_default_queue_is_refused_and_nothing_stored(self, twilio: Twilio):
        assert_error(twilio.text("hi", to="+15559999999"), 404)
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
