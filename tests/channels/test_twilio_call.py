"""TwilioCall, the fake of Twilio's side of a call, against a tiny TwiML server of the test's own on 127.0.0.1: it
follows <Connect><Stream>, reconnects through the <Connect action> when the socket drops without its stop, measures
the gap, and ends on <Hangup/> or after its own stop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from twilio.request_validator import RequestValidator

from bench.peers import mulaw_tone, share
from bench.twilio_fake_call import TwilioCall
from channels.audio import MulawDecoder

TOKEN = "loopback-auth-token"
CALLER_HZ, GATEWAY_HZ = 660.0, 440.0


@dataclass
class Stream:
    """What the server saw of one media stream."""

    start: dict
    audio: list[np.ndarray] = field(default_factory=list)
    stopped: bool = False
    #: When the server dropped it (time.monotonic: the fake's clock too, one process).
    dropped_at: float | None = None

    def heard(self, hz: float) -> float:
        return share(np.concatenate(self.audio), 8000, hz) if self.audio else 0.0


class TwimlServer:
    """A gateway stand-in: answers the voice webhook with <Connect action><Stream>, drops the first stream after half
    a second (no stop: a process dying), and answers the action with ``action_answer``."""

    def __init__(self, action_answer: str) -> None:
        self.action_answer = action_answer
        self.validator = RequestValidator(TOKEN)
        self.streams: list[Stream] = []
        self.posts: list[tuple[str, dict[str, str]]] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = Starlette(
            routes=[
                Route("/webhooks/twilio/voice", self.voice, methods=["POST"]),
                Route("/action", self.action, methods=["POST"]),
                WebSocketRoute("/media", self.media),
            ]
        )

    def connect(self) -> str:
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="{self.base}/action">'
            f'<Stream url="ws://127.0.0.1:{self.port}/media"><Parameter name="interaction" value="ix1" />'
            "</Stream></Connect></Response>"
        )

    async def _signed(self, request: Request) -> dict[str, str] | None:
        form = dict(await request.form())
        ok = self.validator.validate(str(request.url), form, request.headers.get("X-Twilio-Signature", ""))
        self.posts.append((request.url.path, form))
        return form if ok else None

    async def voice(self, request: Request) -> Response:
        if await self._signed(request) is None:
            return Response("bad signature", 403)
        return Response(self.connect(), media_type="application/xml")

    async def action(self, request: Request) -> Response:
        if await self._signed(request) is None:
            return Response("bad signature", 403)
        return Response(self.action_answer, media_type="application/xml")

    async def media(self, ws: WebSocket) -> None:
        if not self.validator.validate(str(ws.url), {}, ws.headers.get("X-Twilio-Signature", "")):
            await ws.close(1008)
            return
        await ws.accept()
        assert json.loads(await ws.receive_text())["event"] == "connected"
        start = json.loads(await ws.receive_text())
        stream = Stream(start)
        self.streams.append(stream)
        first = len(self.streams) == 1
        speaker = asyncio.ensure_future(self._speak(ws, start["streamSid"]))
        decoder = MulawDecoder()
        try:
            while True:
                msg = json.loads(await ws.receive_text())
                if msg["event"] == "stop":
                    stream.stopped = True
                    return
                if msg["event"] == "media":
                    for f in decoder.pcm8k(base64.b64decode(msg["media"]["payload"])):
                        stream.audio.append(f.to_ndarray().reshape(-1))
                    if first and len(stream.audio) >= 25:  # half a second in: the process "dies"
                        stream.dropped_at = time.monotonic()
                        await ws.close(1012)
                        return
        except WebSocketDisconnect:
            return
        finally:
            speaker.cancel()

    async def _speak(self, ws: WebSocket, stream_sid: str) -> None:
        chunks = mulaw_tone(GATEWAY_HZ, 1.0)
        started, i = time.monotonic(), 0
        with contextlib.suppress(Exception):  # the socket closed under it
            while True:
                payload = base64.b64encode(chunks[i % len(chunks)]).decode()
                await ws.send_text(
                    json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})
                )
                i += 1
                await asyncio.sleep(max(0.0, started + i * 0.02 - time.monotonic()))  # real-time pacing

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TwimlServer]:
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        task = asyncio.ensure_future(server.serve())
        deadline = time.monotonic() + 10
        while not server.started:
            assert not task.done() and time.monotonic() < deadline, "the loopback TwiML server did not start"
            await asyncio.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            await task


async def dial(server: TwimlServer) -> TwilioCall:
    call = TwilioCall(CALLER_HZ)
    await call.dial(server.base, f"ws://127.0.0.1:{server.port}", TOKEN, "CA42", "+14155550100", "+15550001000")
    return call


async def test_a_stream_dropped_without_stop_reconnects_through_the_action_and_the_gap_is_measured():
    srv = TwimlServer(action_answer="")
    srv.action_answer = srv.connect()
    async with srv.running():
        call = await dial(srv)
        try:
            gap = await call.reconnected(2)
            first, second = call.legs
            assert not first.stopped and first.closed_at is not None and first.close_code == 1012
            # Lost when the server dropped it (the fake notices after), before the reconnect opened.
            assert srv.streams[0].dropped_at <= first.closed_at == gap.lost_at <= second.opened_at
            assert gap.heard == second.first_received_at - first.closed_at > 0
            assert gap.spoke == second.first_sent_at - first.closed_at > 0
            t0 = second.first_received_at
            await call.ear.until(lambda: call.ear.hears(GATEWAY_HZ, t0) > 0.5)
        finally:
            await call.hang_up()
        assert call.end_reason == "hung up" and len(call.legs) == 2 and call.legs[1].stopped
        assert [path for path, _ in srv.posts] == ["/webhooks/twilio/voice", "/action"]  # none after its own stop
        action = srv.posts[1][1]
        assert action["CallSid"] == "CA42" and action["CallStatus"] == "in-progress"
        assert action["From"] == "+14155550100" and action["To"] == "+15550001000"
        assert [s.start["start"]["customParameters"] for s in srv.streams] == [{"interaction": "ix1"}] * 2
        assert [s.start["start"]["callSid"] for s in srv.streams] == ["CA42", "CA42"]
        first, second = srv.streams
        assert not first.stopped and second.stopped
        assert first.heard(CALLER_HZ) > 0.5 and second.heard(CALLER_HZ) > 0.5


async def test_a_hangup_answer_to_the_action_ends_the_call_without_a_second_stream():
    srv = TwimlServer(action_answer='<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>')
    async with srv.running():
        call = await dial(srv)
        try:
            await call.until(call.ended.is_set, "the call to end")
        finally:
            await call.close()
        assert call.end_reason == "<Hangup>" and len(call.legs) == 1 and call.gaps == []
        assert [path for path, _ in srv.posts] == ["/webhooks/twilio/voice", "/action"]


async def test_an_empty_answer_to_the_action_ends_the_call():
    srv = TwimlServer(action_answer='<?xml version="1.0" encoding="UTF-8"?><Response />')
    async with srv.running():
        call = await dial(srv)
        try:
            await call.until(call.ended.is_set, "the call to end")
        finally:
            await call.close()
        assert call.end_reason == "no more verbs" and len(call.legs) == 1
