"""/webhooks/twilio/media: frames that are no Twilio frame close the socket cleanly (no traceback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator

from sessions.errors import StoreUnavailable
from tests.gateway.conftest import make_gateway
from tests.processes import GatewayProcess, twilio_gateway

SID, TOKEN, ADMIN_TOKEN = "AC" + "6" * 32, "media-twilio-token", "media-admin"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # twilio_gateway fails the module if the gateway logged a traceback.
    with twilio_gateway(str(tmp_path_factory.mktemp("media")), ADMIN_TOKEN, SID, TOKEN) as gp:
        yield gp


@pytest.mark.parametrize(
    ("sent", "code"), [(b"\x80\x00binary", 1003), ("x" * 70_000, 1009)], ids=["binary", "oversized"]
)
async def test_a_frame_twilio_never_sends_closes_with_a_documented_code(
    server: GatewayProcess, sent: bytes | str, code: int
):
    url = f"{server.ws_url}/webhooks/twilio/media"
    async with websockets.connect(
        url, additional_headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
    ) as ws:
        await ws.send(sent)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code, "a close frame, not a dropped connection"


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 5000 + "]" * 5000,
        json.dumps(
            {
                "event": "start",
                "start": {"callSid": ["CA1"], "streamSid": {"x": 1}, "customParameters": {"interaction": 7}},
            }
        ),
    ],
    ids=["nested-deeper-than-the-parser", "start-with-the-wrong-types"],
)
async def test_a_malformed_frame_is_skipped_and_the_stream_goes_on(server: GatewayProcess, frame: str):
    url = f"{server.ws_url}/webhooks/twilio/media"
    async with websockets.connect(
        url, additional_headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
    ) as ws:
        await ws.send(frame)
        await ws.send(b"\x80")  # still listening: the next bad frame gets its close code
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    assert "Traceback" not in "".join(server.output)


def test_a_failure_while_handling_a_frame_closes_with_1011_and_a_log_line(caplog: pytest.LogCaptureFixture):
    """The store down as a stream starts (or any bug under ``stream.handle``): logged with the interaction, the
    socket closed with 1011, never a traceback out of the endpoint."""
    for gw in make_gateway(twilio_account_sid=SID, twilio_auth_token=TOKEN, public_url="http://testserver"):

        async def store_down(call_sid: str) -> str:
            raise StoreUnavailable("the database is down")

        gw.app.state.threads.interaction_of_call = store_down
        url = "ws://testserver/webhooks/twilio/media"
        signature = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
        start = {
            "event": "start",
            "start": {"callSid": "CA1", "streamSid": "MZ1", "customParameters": {"interaction": "ix-7"}},
        }
        with gw.client.websocket_connect("/webhooks/twilio/media", headers=signature) as ws:
            ws.send_text(json.dumps(start))
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == 1011
        assert any("ix-7" in r.getMessage() and r.exc_info for r in caplog.records if r.name == "gateway.ws_media")
