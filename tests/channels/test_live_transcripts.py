"""Live-call transcripts through Twilio Real-Time Transcription: the TwiML that starts it, and its signed callbacks."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from sessions.text import MAX_TEXT, TRUNCATION_MARKER
from tests.channels import twilio_scenario as phone
from tests.channels.twilio_scenario import CUSTOMER, PUBLIC, SALES_NUMBER, SID, Twilio, agent_online
from tests.gateway.conftest import assert_error
from tests.gateway.test_ws_agent import receive, token_of

CALLBACK = f"{PUBLIC}/webhooks/twilio/transcription"
#: The Twilio scenario of tests/channels/twilio_scenario.py: a gateway with queue "sales" (transcription on) and a fake
#: Twilio REST API.
fake, twilio = phone.fake, phone.twilio


def transcription_of(twiml: str) -> ElementTree.Element | None:
    """The <Start><Transcription> of a TwiML document, if any (parsed, not matched as text)."""
    return ElementTree.fromstring(twiml.split("?>", 1)[-1]).find("./Start/Transcription")


def utterance(
    sequence: int,
    text: str,
    track: str = "inbound_track",
    *,
    final: bool = True,
    session: str = "GT100",
    call_sid: str = "CA100",
) -> dict[str, str]:
    return {
        "AccountSid": SID,
        "CallSid": call_sid,
        "TranscriptionSid": session,
        "TranscriptionEvent": "transcription-content",
        "LanguageCode": "en-US",
        "Track": track,
        "TranscriptionData": json.dumps({"transcript": text, "confidence": 0.93}),
        "Final": "true" if final else "false",
        "Stability": "0.9",
        "SequenceId": str(sequence),
        "Timestamp": f"2026-03-01T12:00:{sequence:02d}.250000Z",
    }


def lifecycle(event: str, sequence: int, session: str = "GT100", **extra: str) -> dict[str, str]:
    return {
        "AccountSid": SID,
        "CallSid": "CA100",
        "TranscriptionSid": session,
        "TranscriptionEvent": event,
        "SequenceId": str(sequence),
        "Timestamp": "2026-03-01T12:00:00.000000Z",
        **extra,
    }


def claimed_call(t: Twilio) -> tuple[dict, dict[str, str]]:
    alice = agent_online(t)
    assert t.call().status_code == 200
    [ix] = t.interactions()
    assert t.gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice).status_code == 200
    return ix, alice


def live(t: Twilio, ix: dict, headers: dict[str, str]) -> list[tuple[str, str]]:
    got = t.gw.client.get(f"/api/interactions/{ix['id']}", headers=headers).json()
    return [(s["speaker"], s["text"]) for s in got["live_transcript"]]


class TestTwiml:
    def test_a_call_of_a_queue_with_transcription_on_starts_real_time_transcription_then_the_stream(
        self, twilio: Twilio
    ):
        agent_online(twilio)
        r = twilio.call()
        transcription = transcription_of(r.text)
        assert transcription is not None, r.text
        assert transcription.get("statusCallbackUrl") == CALLBACK
        assert (transcription.get("track"), transcription.get("partialResults")) == ("both_tracks", "false")
        assert [child.tag for child in ElementTree.fromstring(r.text.split("?>", 1)[-1])] == ["Start", "Connect"], (
            "transcription starts, then the call is bridged"
        )

    def test_a_queue_with_transcription_off_gets_no_transcription(self, twilio: Twilio):
        twilio.gw.client.patch(
            "/api/queues/sales",
            json={"settings": {"transcription": False, "phone_number": SALES_NUMBER, "voicemail": True}},
            headers=twilio.gw.admin,
        ).raise_for_status()
        agent_online(twilio)
        r = twilio.call()
        assert "<Stream" in r.text and transcription_of(r.text) is None and "Transcription" not in r.text

    def test_outbound_calls_the_gateway_dials_are_transcribed_too_when_the_queue_says_so(self, twilio: Twilio):
        alice = agent_online(twilio)
        body = {"queue_id": "sales", "type": "call", "subtype": "phone", "customer": {"phone": CUSTOMER}}
        assert twilio.gw.client.post("/api/interactions", json=body, headers=alice).status_code == 201
        twilio.gw.client.patch(
            "/api/queues/sales",
            json={"settings": {"transcription": False, "phone_number": SALES_NUMBER}},
            headers=twilio.gw.admin,
        ).raise_for_status()
        assert (
            twilio.gw.client.post(
                "/api/interactions", json={**body, "customer": {"phone": "+14155550199"}}, headers=alice
            ).status_code
            == 201
        )
        on, off = twilio.fake.calls
        transcription = transcription_of(on["Twiml"])
        assert transcription is not None and transcription.get("statusCallbackUrl") == CALLBACK
        assert "<Stream" in off["Twiml"] and transcription_of(off["Twiml"]) is None

    def test_voicemail_keeps_its_recording_transcription(self, twilio: Twilio):
        r = twilio.call()  # nobody online: voicemail
        assert (
            'transcribe="true"' in r.text
            and f'transcribeCallback="{CALLBACK}"' in r.text
            and transcription_of(r.text) is None
        )


class TestCallbacks:
    def test_a_signed_final_utterance_is_kept_and_delivered_live_to_the_agent(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        with twilio.gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
            assert twilio.post("transcription", lifecycle("transcription-started", 1)).status_code == 204
            assert twilio.post("transcription", utterance(2, "Hi, my parcel has not arrived")).status_code == 204
            event = receive(ws, "interaction.transcript_segment_added")
            assert (
                twilio.post("transcription", utterance(3, "Let me look that up for you.", "outbound_track")).status_code
                == 204
            )
            second = receive(ws, "interaction.transcript_segment_added")
        assert (
            event["interaction"]["id"] == ix["id"]
            and event["interaction"]["live_transcript"][0]["text"] == "Hi, my parcel has not arrived"
        )
        [segment, reply] = second["interaction"]["live_transcript"]
        assert (segment["speaker"], segment["sequence"], segment["confidence"], segment["at"]) == (
            "customer",
            2,
            0.93,
            "2026-03-01T12:00:02.250000Z",
        )
        assert (reply["speaker"], reply["text"]) == ("agent", "Let me look that up for you.")
        assert live(twilio, ix, alice) == [
            ("customer", "Hi, my parcel has not arrived"),
            ("agent", "Let me look that up for you."),
        ]
        stored = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
        assert [a["detail"] for a in stored["activity"] if a["kind"] == "live_transcription"] == [
            "Live transcription started"
        ]
        assert stored["transcripts"] == [], "not mistaken for a voicemail transcription"

    def test_unsigned_or_forged_callbacks_are_refused_and_store_nothing(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        assert_error(
            twilio.gw.client.post("/webhooks/twilio/transcription", data=utterance(1, "Hello")), 403, "forbidden"
        )
        assert_error(twilio.post("transcription", utterance(1, "Hello"), signature="forged"), 403, "forbidden")
        signed_for_other_words = twilio.validator.compute_signature(CALLBACK, utterance(1, "Hello"))
        assert_error(
            twilio.post("transcription", utterance(1, "Transfer my money"), signature=signed_for_other_words), 403
        )
        assert live(twilio, ix, alice) == []
        # Refused deliveries were not remembered: the genuine one is still taken.
        assert twilio.post("transcription", utterance(1, "Hello")).status_code == 204
        assert live(twilio, ix, alice) == [("customer", "Hello")]

    def test_a_retried_callback_is_kept_once(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        for _ in range(2):
            assert twilio.post("transcription", utterance(1, "Hello")).status_code == 204
        token = {"I-Twilio-Idempotency-Token": "idem-7"}
        for _ in range(2):
            assert twilio.post("transcription", utterance(2, "Anyone there?"), headers=token).status_code == 204
        assert live(twilio, ix, alice) == [("customer", "Hello"), ("customer", "Anyone there?")]
        # Past the remembered delivery (a retry days later, or concurrent twins): the derived segment id still keeps it
        # once.
        assert (
            twilio.post(
                "transcription", utterance(1, "Hello"), headers={"I-Twilio-Idempotency-Token": "idem-8"}
            ).status_code
            == 204
        )
        assert live(twilio, ix, alice) == [("customer", "Hello"), ("customer", "Anyone there?")]

    def test_out_of_order_and_late_callbacks_are_kept_in_sequence_order(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        for n, text in ((4, "fourth"), (2, "second")):
            twilio.post("transcription", utterance(n, text))
        assert (
            twilio.gw.client.post(
                f"/api/interactions/{ix['id']}/end", json={"outcome": "resolved"}, headers=alice
            ).status_code
            == 200
        )
        assert twilio.gw.client.post(f"/api/interactions/{ix['id']}/complete", headers=alice).status_code == 200
        for n, text in ((5, "fifth"), (3, "third")):  # delivered after the interaction was completed
            assert twilio.post("transcription", utterance(n, text, "outbound_track")).status_code == 204
        twilio.post("transcription", lifecycle("transcription-stopped", 6))
        done = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
        assert done["state"] == "completed" and done["completed_by"] == "alice"
        assert [(s["sequence"], s["text"]) for s in done["live_transcript"]] == [
            (2, "second"),
            (3, "third"),
            (4, "fourth"),
            (5, "fifth"),
        ]

    def test_what_was_said_is_cleaned_and_truncated_never_refused(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        for n, text in ((1, "Call me\x00 back\x07 please"), (2, "z" * 20_000)):
            assert twilio.post("transcription", utterance(n, text)).status_code == 204
        assert live(twilio, ix, alice) == [
            ("customer", "Call me back please"),
            ("customer", "z" * (MAX_TEXT - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER),
        ]

    def test_partial_results_are_ignored(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        assert twilio.post("transcription", utterance(1, "Hel", final=False)).status_code == 204
        assert twilio.post("transcription", utterance(2, "Hello there")).status_code == 204
        assert live(twilio, ix, alice) == [("customer", "Hello there")]

    def test_a_transcription_error_is_in_the_feed(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        assert (
            twilio.post(
                "transcription", lifecycle("transcription-error", 1, TranscriptionError="Engine unavailable")
            ).status_code
            == 204
        )
        got = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
        [entry] = [a for a in got["activity"] if a["kind"] == "live_transcription"]
        assert (entry["detail"], entry["data"]["status"], entry["data"]["transcription_sid"]) == (
            "Live transcription failed: Engine unavailable",
            "error",
            "GT100",
        )

    def test_malformed_callbacks_are_a_400_and_change_nothing(self, twilio: Twilio):
        ix, alice = claimed_call(twilio)
        for bad in (
            {"TranscriptionData": "not json"},
            {"TranscriptionData": "[1]"},
            {"SequenceId": "two"},
            {"Track": "both_tracks"},
            {"Timestamp": "yesterday"},
        ):
            assert_error(twilio.post("transcription", {**utterance(1, "Hello"), **bad}), 400, "invalid")
        missing = utterance(1, "Hello")
        del missing["TranscriptionSid"]
        assert_error(twilio.post("transcription", missing), 400, "invalid")
        assert live(twilio, ix, alice) == []

    def test_a_callback_for_an_unknown_call_is_acknowledged_and_ignored(self, twilio: Twilio):
        assert twilio.post("transcription", utterance(1, "Hello", call_sid="CA999")).status_code == 204
        assert twilio.interactions() == []
