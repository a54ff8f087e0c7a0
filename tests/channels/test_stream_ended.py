"""The caller's ``<Connect action>`` (``/webhooks/twilio/voice/stream-ended``) and what a taken-over call keeps:
a live phone call gets a new stream marked ``resumed``; a call that is over is hung up; only Twilio may ask.
A killed writer's recording part is made whole."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from channels.takeover import finish_part
from tests.channels import twilio_scenario as scenario
from tests.channels.twilio_scenario import PUBLIC, SID, Twilio, agent_online

fake, twilio = scenario.fake, scenario.twilio

ACTION = f'<Connect action="{PUBLIC}/webhooks/twilio/voice/stream-ended#rc=3&amp;rp=all" method="POST">'


def ended(t: Twilio, call_sid: str = "CA100", status: str = "in-progress", **extra: str):
    return t.post("voice/stream-ended", {"CallSid": call_sid, "AccountSid": SID, "CallStatus": status, **extra})


def test_a_live_call_whose_stream_closed_gets_a_new_one_that_can_end_again(twilio: Twilio):
    agent_online(twilio)
    twilio.call()
    [ix] = twilio.interactions()
    r = ended(twilio, StreamSid="MZ1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert ACTION in r.text and f'<Parameter name="interaction" value="{ix["id"]}" />' in r.text
    assert '<Parameter name="resumed" value="1" />' in r.text, "the next stream takes the call over"
    assert "<Transcription" not in r.text, "the call's transcription (started once, with the call) runs on"
    again = ended(twilio, StreamSid="MZ2")
    assert again.status_code == 200 and ACTION in again.text, "the same call may be taken over more than once"
    assert ended(twilio, StreamSid="MZ2").text == again.text, "a retry is answered alike"


def test_a_call_that_is_over_is_hung_up(twilio: Twilio):
    agent_online(twilio)
    twilio.call()  # it waits in the queue; the caller hangs up
    twilio.post("voice/status", {"CallSid": "CA100", "AccountSid": SID, "CallStatus": "completed"})
    [ix] = twilio.interactions()
    assert ix["state"] == "completed"
    r = ended(twilio, status="completed")
    assert r.status_code == 200 and "<Hangup />" in r.text and "<Connect" not in r.text
    r = ended(twilio, StreamSid="MZ1")  # Twilio reporting it in progress, if it ever did: the interaction is over
    assert r.status_code == 200 and "<Hangup />" in r.text
    unknown = ended(twilio, call_sid="CA999", StreamSid="MZ9")
    assert unknown.status_code == 200 and "<Hangup />" in unknown.text


def test_only_twilio_may_ask(twilio: Twilio):
    agent_online(twilio)
    twilio.call()
    r = twilio.post(
        "voice/stream-ended", {"CallSid": "CA100", "AccountSid": SID, "CallStatus": "in-progress"}, signature="bad"
    )
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    missing = twilio.post("voice/stream-ended", {"AccountSid": SID})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid"


def _part(tmp_path: Path, seconds: float) -> Path:
    """What a writer killed mid-call leaves: a WAV opened as the recorder does, written, never closed."""
    final = tmp_path / "recordings" / "MZ1.wav"
    final.parent.mkdir()
    w = wave.open(str(final.with_suffix(".part")), "wb")  # noqa: SIM115 - left unclosed on purpose
    w.setnchannels(2)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(np.ones(int(8000 * seconds) * 2, dtype=np.int16).tobytes())
    w._file.flush()  # what the killed process had handed to the OS (wave flushes when it patches its header)
    return final


def test_a_killed_writers_part_is_made_whole_and_moved_into_place(tmp_path: Path):
    final = _part(tmp_path, 0.5)
    part = final.with_suffix(".part")
    with open(part, "ab") as f:
        f.write(b"\x01\x00\x02")  # a frame cut short by the kill
    assert finish_part(final) == 0.5
    assert not part.exists()
    with wave.open(str(final), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 4000)
    assert finish_part(final) is None, "nothing left to rescue the second time"


def test_a_call_gone_to_voicemail_meanwhile_gets_the_voicemail(twilio: Twilio):
    twilio.call()  # nobody online: the queue takes a voicemail
    [ix] = twilio.interactions()
    assert ix["type"] == "voicemail"
    r = ended(twilio, StreamSid="MZ1")
    assert r.status_code == 200 and "<Record" in r.text and "<Connect" not in r.text
