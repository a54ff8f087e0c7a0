"""Twilio Media Streams as a protocol: frames in, typed events out; frames out, in Twilio's shapes."""

from __future__ import annotations

import base64
import json

import pytest

from channels.media_streams import (
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    Connected,
    Malformed,
    Mark,
    Media,
    Other,
    Refused,
    Start,
    Stop,
    clear_frame,
    media_frame,
    parse,
)

AUDIO = bytes(range(160))


def start(params: object = None, **start_fields: object) -> str:
    body = {
        "streamSid": "MZ1",
        "callSid": "CA1",
        "accountSid": "AC1",
        "tracks": ["inbound"],
        "customParameters": {"interaction": "ix1"} if params is None else params,
        **start_fields,
    }
    return json.dumps({"event": "start", "sequenceNumber": "1", "start": body, "streamSid": "MZ1"})


def media(payload: object) -> str:
    return json.dumps(
        {
            "event": "media",
            "streamSid": "MZ1",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": payload},
        }
    )


class TestReceived:
    def test_connected(self):
        assert parse('{"event": "connected", "protocol": "Call", "version": "1.0.0"}') == Connected()

    def test_start_names_the_call_the_stream_and_the_interaction(self):
        assert parse(start()) == Start("ix1", "CA1", "MZ1", None, {"interaction": "ix1"})

    def test_start_of_a_consulted_number_names_its_leg(self):
        event = parse(start({"interaction": "ix1", "leg": "consult"}))
        assert isinstance(event, Start)
        assert event.leg == "consult"
        assert event.params == {"interaction": "ix1", "leg": "consult"}

    def test_media_payload_is_decoded(self):
        assert parse(media(base64.b64encode(AUDIO).decode())) == Media(AUDIO)

    def test_mark(self):
        assert parse('{"event": "mark", "streamSid": "MZ1", "mark": {"name": "greeting"}}') == Mark("greeting")

    def test_stop(self):
        assert parse('{"event": "stop", "streamSid": "MZ1", "stop": {"accountSid": "AC1", "callSid": "CA1"}}') == Stop()

    def test_an_event_of_no_use_here_is_passed_over(self):
        assert parse('{"event": "dtmf", "dtmf": {"digit": "1"}}') == Other("dtmf")


class TestMalformed:
    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "[1, 2]",
            '"start"',
            "{}",
            '{"event": 5}',
            media("not base64!"),
            media(7),
            '{"event": "media"}',
            '{"event": "mark", "mark": {}}',
            start(params={}),
            start(params="ix1"),
            start(params={"interaction": 5}),
            start(params={"interaction": "ix1", "leg": ["consult"]}),
            start(callSid=None),
            json.dumps({"event": "start", "start": {"streamSid": "MZ1", "customParameters": {"interaction": "ix1"}}}),
            "[" * 100_000 + "]" * 100_000,
        ],
        ids=[
            "not-json",
            "array",
            "string",
            "no-event",
            "event-not-text",
            "bad-base64",
            "payload-not-text",
            "no-media",
            "mark-without-name",
            "no-interaction",
            "params-not-object",
            "interaction-not-text",
            "leg-not-text",
            "call-sid-not-text",
            "no-call-sid",
            "too-deep",
        ],
    )
    def test_is_skipped_with_a_reason(self, text: str):
        event = parse(text, max_size=1_000_000)
        assert isinstance(event, Malformed)
        assert event.reason


class TestRefused:
    def test_binary_frame_closes_1003(self):
        event = parse(b'{"event": "stop"}')
        assert isinstance(event, Refused) and event.code == CLOSE_UNSUPPORTED == 1003

    def test_frame_over_the_limit_closes_1009(self):
        event = parse(media(base64.b64encode(AUDIO).decode()), max_size=100)
        assert isinstance(event, Refused) and event.code == CLOSE_TOO_BIG == 1009

    def test_frame_at_the_limit_is_read(self):
        text = media(base64.b64encode(AUDIO).decode())
        assert parse(text, max_size=len(text)) == Media(AUDIO)


class TestSent:
    def test_media(self):
        frame = json.loads(media_frame("MZ1", AUDIO))
        assert frame == {"event": "media", "streamSid": "MZ1", "media": {"payload": base64.b64encode(AUDIO).decode()}}

    def test_clear(self):
        assert json.loads(clear_frame("MZ1")) == {"event": "clear", "streamSid": "MZ1"}

    def test_what_is_sent_reads_back_as_what_twilio_sends(self):
        assert parse(media_frame("MZ1", AUDIO)) == Media(AUDIO)
