"""Fuzzing every parser of outside input: Twilio webhooks (correctly signed), chat frames, media frames, agent socket
cursors.

Bounded with hypothesis; any 5xx, unhandled exception or lost interaction fails the suite.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.settings import Settings
from sessions.errors import InvalidCursor
from sessions.events import cursor_key
from tests.databases import sqlite_store
from tests.gateway.conftest import ADMIN_TOKEN

PUBLIC, TOKEN = "https://fuzz.example.com", "fuzz-twilio-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIELDS = [
    "CallSid",
    "MessageSid",
    "RecordingSid",
    "TranscriptionSid",
    "From",
    "To",
    "Body",
    "CallStatus",
    "MessageStatus",
    "RecordingStatus",
    "RecordingUrl",
    "RecordingDuration",
    "TranscriptionText",
    "TranscriptionStatus",
    "ErrorCode",
    "CallDuration",
]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
value = st.one_of(
    text,
    st.sampled_from(
        [
            "",
            "+15550001000",
            "+14155550100",
            "completed",
            "ringing",
            "no-answer",
            "CA1",
            "SM1",
            "RE1",
            "-1",
            "1e309",
            "../../etc/passwd",
        ]
    ),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    settings_ = Settings(
        admin_token=ADMIN_TOKEN,
        public_url=PUBLIC,
        twilio_account_sid="AC" + "5" * 32,
        twilio_auth_token=TOKEN,
        twilio_api_base="http://127.0.0.1:9",
        data_dir=tmp_path_factory.mktemp("fuzz"),
        timer_interval=3600,
    )
    with TestClient(create_app(settings_, store=sqlite_store(settings_.data_dir)), raise_server_exceptions=False) as c:
        c.post(
            "/api/queues",
            json={"id": "sales", "name": "Sales", "settings": {"phone_number": "+15550001000", "voicemail": True}},
            headers=ADMIN,
        )
        c.put("/api/routing", json={"default_queue": "sales"}, headers=ADMIN)
        yield c


def stored(client: TestClient) -> int:
    return sum(
        len(client.get(f"/api/queues/sales/interactions?state={s}&limit=500", headers=ADMIN).json()["items"])
        for s in ("active", "completed")
    )


@pytest.mark.parametrize("hook", ["voice", "voice/status", "sms", "sms/status", "recording", "transcription"])
def test_signed_webhooks_never_fail_with_5xx(client: TestClient, hook: str):
    validator = RequestValidator(TOKEN)

    @FUZZ
    @given(st.dictionaries(st.one_of(st.sampled_from(FIELDS), text.filter(bool)), value, max_size=8))
    def run(params):
        before = stored(client)
        r = client.post(
            f"/webhooks/twilio/{hook}",
            data=params,
            headers={"X-Twilio-Signature": validator.compute_signature(f"{PUBLIC}/webhooks/twilio/{hook}", params)},
        )
        assert r.status_code < 500, (r.status_code, r.text)
        if r.status_code >= 400:
            assert stored(client) == before, "a refused webhook stores nothing"
            assert set(r.json()) == {"error", "detail"}

    run()


def test_chat_frames_that_are_not_json_objects_close_with_a_documented_code(client: TestClient):
    @FUZZ
    @given(
        st.one_of(
            text,
            st.binary(min_size=1, max_size=64),
            st.builds(json.dumps, st.one_of(st.lists(value, max_size=3), value, st.integers())),
        )
    )
    def run(frame):
        with client.websocket_connect("/ws/chat") as ws:
            ws.send_text(json.dumps({"type": "start", "name": "Fuzz", "email": "fuzz@example.com"}))
            assert json.loads(ws.receive_text())["type"] == "session"
            ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
            try:
                parsed = json.loads(frame)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return  # an object: the chat protocol's to answer (the next test)
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    ws.receive_text()
            assert closed.value.code == (1003 if isinstance(frame, bytes) else 4400)

    run()


def test_chat_objects_never_break_the_connection(client: TestClient):
    frames = st.one_of(
        st.builds(
            json.dumps,
            st.dictionaries(
                st.sampled_from(
                    ["type", "body", "name", "email", "token", "after", "active", "client_id", "topic", "phone"]
                ),
                st.one_of(value, st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)),
                max_size=5,
            ),
        ),
        st.builds(
            lambda t, b: json.dumps({"type": t, "body": b}),
            st.sampled_from(["message", "typing", "read", "end", "resume", "start"]),
            value,
        ),
    )

    @FUZZ
    @given(st.lists(frames, min_size=1, max_size=6))
    def run(batch):
        with client.websocket_connect("/ws/chat") as ws:
            ws.send_text(json.dumps({"type": "start", "name": "Fuzz", "email": "fuzz@example.com"}))
            assert json.loads(ws.receive_text())["type"] == "session"
            for frame in batch:
                ws.send_text(frame)
            ws.send_text(json.dumps({"type": "message", "body": "still alive", "client_id": "probe"}))
            for _ in range(len(batch) + 5):
                reply = json.loads(ws.receive_text())
                assert reply["type"] in {
                    "ack",
                    "error",
                    "ended",
                    "session",
                    "message",
                    "receipt",
                    "typing",
                    "agent_joined",
                    "agent_left",
                    "channel",
                }
                if (
                    reply["type"] == "ack"
                    and reply["client_id"] == "probe"
                    or reply["type"] == "error"
                    and reply["code"] == "ended"
                ):
                    break
            else:
                raise AssertionError("the probe message was never answered")

    run()


def test_media_frames_are_skipped_not_fatal(client: TestClient):
    url = "wss://fuzz.example.com/webhooks/twilio/media"
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
    payloads = st.one_of(
        text,
        st.builds(
            json.dumps,
            st.dictionaries(
                st.sampled_from(["event", "media", "start", "streamSid"]),
                st.one_of(value, st.dictionaries(text, value, max_size=3)),
                max_size=4,
            ),
        ),
    )

    @FUZZ
    @given(st.lists(payloads, max_size=6))
    def run(batch):
        with client.websocket_connect("/webhooks/twilio/media", headers=headers) as ws:
            for frame in batch:
                ws.send_text(frame)
            ws.send_text(json.dumps({"event": "stop"}))
            with pytest.raises(WebSocketDisconnect):
                ws.receive_text()  # the server ends the stream on "stop", having survived the rest

    run()


def test_agent_socket_cursor_is_validated(client: TestClient):
    @FUZZ
    @given(text)
    def run(since):
        with client.websocket_connect("/ws/agent", params={"token": ADMIN_TOKEN, "since": since}) as ws:
            try:
                cursor_key(since or "0")  # empty: no cursor, follow from now
            except InvalidCursor:
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
                assert closed.value.code == 4400 and "bad_cursor" in closed.value.reason
            ws.close()

    run()
