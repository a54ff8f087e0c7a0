"""Twilio voicemail, driven exactly as Twilio does: calls redirected to it, recordings downloaded and served.

Transcriptions attached (cleaned, truncated), a failed download retried, callbacks applied once.
"""

from __future__ import annotations

from sessions.text import MAX_TEXT, TRUNCATION_MARKER
from tests.channels import twilio_scenario as scenario
from tests.channels.twilio_scenario import Twilio, agent_online
from tests.fake_twilio import AUDIO
from tests.gateway.conftest import assert_error

#: The scenario (tests/channels/twilio_scenario.py): a gateway with queue "sales" and a fake Twilio REST API.
fake, twilio = scenario.fake, scenario.twilio


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
        # The gateway's own timer loop may have fired first: whichever tick diverted it, one note says why.
        [note] = [a for a in ix["activity"] if a["kind"] == "call_status" and a["data"].get("status") == "failed"]
        assert note["data"]["error"] == "21220"
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
