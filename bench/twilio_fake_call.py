"""Twilio's side of one phone call, following the gateway's TwiML as Twilio does.

`TwilioCall` posts the signed voice webhook, then runs the answer verb by verb.  ``<Connect><Stream>`` opens the
media stream (signed over the stream URL, the ``<Parameter>``s in ``start.customParameters``), sends the caller's
tone in real time and keeps what it hears in one `Ear` for the whole call.  When the socket closes without the call
having sent ``stop`` (the gateway process died or is draining), Twilio requests the ``<Connect action>`` URL and
runs its answer: a new ``<Connect><Stream>`` is a reconnect, whose silence is measured (`Gap`); ``<Hangup/>`` or
no verb left ends the call.  Without an action URL it goes on with the next verb, as Twilio does.

Every URL is used as the TwiML names it (the gateway's GATEWAY_PUBLIC_URL, in tests a balancer on 127.0.0.1), and
only loopback URLs are accepted.  The parameters of the action request are Twilio's standard call parameters; Twilio
documents that a ``<Connect>`` action may add ones of the nested noun, none of which the gateway needs.

Used by the suite (tests/channels/test_twilio_call.py, tests/gateway/test_cluster_calls.py) and bench/takeover.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
import websockets
from twilio.request_validator import RequestValidator

if __package__:  # the suite: bench.twilio_fake_call
    from bench.peers import Ear, mulaw_tone
else:  # a bench script (python bench/NAME.py) imports its siblings by name
    from peers import Ear, mulaw_tone

from channels.audio import MulawDecoder

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
VOICE_PATH = "/webhooks/twilio/voice"
#: Where the gateway names the process that answered (issue 19).
NODE_HEADER = "x-switchboard-node"


@dataclass
class Leg:
    """One media stream of the call: a websocket from open to close."""

    url: str
    params: dict[str, str]
    stream_sid: str
    opened_at: float
    closed_at: float | None = None
    close_code: int | None = None
    #: True when this side ended it with ``stop`` (the caller hung up); False: the gateway's side went away.
    stopped: bool = False
    first_received_at: float | None = None
    first_sent_at: float | None = None
    #: The gateway process that accepted the socket: its ``X-Switchboard-Node`` when the handshake carries one, and
    #: the balancer's ``X-Served-By`` (a server name) when there is a balancer.
    node: str | None = None
    served_by: str | None = None
    received: int = 0
    sent: int = 0
    events: list[dict] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class Gap:
    """The silence of one reconnect, in seconds from the old socket closing: until the first media frame the new
    stream received (``heard``: the caller hears the call again) and sent (``spoke``: the call hears the caller).
    None while that has not happened."""

    lost_at: float
    heard: float | None
    spoke: float | None


class TwilioCall:
    """A caller on Twilio: one call, its TwiML followed, its streams, its ears."""

    def __init__(self, hz: float, account_sid: str = "AC" + "0" * 32, timeout: float = 10) -> None:
        self.hz, self.account_sid, self.timeout = hz, account_sid, timeout
        self.ear = Ear(8000)
        self.legs: list[Leg] = []
        #: Every TwiML document the call ran, in order.
        self.documents: list[str] = []
        #: Streams that could not be opened: (url, why).
        self.failed_streams: list[tuple[str, str]] = []
        #: Every request Twilio made: (url, params).
        self.requests: list[tuple[str, dict[str, str]]] = []
        #: Every webhook answered 200: (url, the answering process's ``X-Switchboard-Node``).
        self.answered_by: list[tuple[str, str | None]] = []
        #: Why the call ended: "hung up" (hang_up), "<Hangup>", "no more verbs", "<Dial>", "<Record>",
        #: "request failed: ..." (a webhook that did not answer 200).
        self.end_reason: str | None = None
        self.ended = asyncio.Event()
        self._changed = asyncio.Event()
        self._ws: websockets.ClientConnection | None = None
        self._leg: Leg | None = None
        self._hung_up = False
        self._runner: asyncio.Task | None = None
        self._http: httpx.AsyncClient | None = None

    async def dial(
        self, http_base: str, ws_base: str | None, auth_token: str, call_sid: str, from_: str, to: str
    ) -> None:
        """Calls ``to``: posts the signed voice webhook to ``http_base`` + /webhooks/twilio/voice and follows its
        TwiML in the background.  Returns once the first stream is open (``start`` sent), or the call ended.
        ``ws_base``, when given, is where every stream URL must point (the fake refuses others)."""
        self.token, self.call_sid, self.from_, self.to, self.ws_base = auth_token, call_sid, from_, to, ws_base
        self.validator = RequestValidator(auth_token)
        self._http = httpx.AsyncClient(timeout=self.timeout)
        self._runner = asyncio.ensure_future(self._run(f"{http_base.rstrip('/')}{VOICE_PATH}", "ringing"))
        await self.until(lambda: self.legs or self.ended.is_set(), "the call to start streaming")

    def call_params(self, status: str) -> dict[str, str]:
        """Twilio's standard request parameters for this call."""
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    # -- what a test waits for ------------------------------------------------------------------------------------

    async def until(self, check, what: str, timeout: float | None = None) -> None:
        """Waits, on the call's changes (a leg opened or closed, the first frames, the end), until ``check`` holds."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; legs {self.legs}, ended {self.end_reason}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def reconnected(self, legs: int = 2, timeout: float | None = None) -> Gap:
        """Waits until stream number ``legs`` has received its first media frame; that reconnect's gap."""
        await self.until(
            lambda: len(self.legs) >= legs and self.legs[legs - 1].first_received_at is not None,
            f"stream {legs} to carry audio",
            timeout,
        )
        return self.gaps[legs - 2]

    @property
    def gaps(self) -> list[Gap]:
        """One per reconnect, in order."""
        out = []
        for old, new in zip(self.legs, self.legs[1:], strict=False):
            lost = old.closed_at
            assert lost is not None
            out.append(
                Gap(
                    lost,
                    None if new.first_received_at is None else new.first_received_at - lost,
                    None if new.first_sent_at is None else new.first_sent_at - lost,
                )
            )
        return out

    @property
    def streaming(self) -> bool:
        return self._leg is not None and self._leg.closed_at is None

    # -- the caller's actions -------------------------------------------------------------------------------------

    async def hang_up(self) -> None:
        """The caller hangs up: ``stop`` on the open stream, the socket closed, the call over."""
        self._hung_up = True
        ws, leg = self._ws, self._leg
        if ws is not None and leg is not None and leg.closed_at is None:
            leg.stopped = True
            stop = {"accountSid": self.account_sid, "callSid": self.call_sid}
            with _gone():
                await ws.send(json.dumps({"event": "stop", "streamSid": leg.stream_sid, "stop": stop}))
                await ws.close()
        if self._runner is not None:
            await asyncio.wait([self._runner], timeout=self.timeout)
        self._end("hung up")
        await self.close()

    async def close(self) -> None:
        """Stops everything (a test's clean-up; no ``stop`` is sent)."""
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- following TwiML ------------------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        self.ended.set()
        self._changed.set()

    async def _request(self, url: str, params: dict[str, str]) -> str | None:
        """A signed POST as Twilio makes it; the TwiML answered, or None (the call ends).

        A URL fragment holds Twilio's connection overrides: never sent nor signed, ``rc`` retries (at most 5) of
        the failures ``rp`` names (``ct``/``rt``: no connection or no answer, ``5xx``, ``4xx``, ``all``)."""
        url, _, fragment = url.partition("#")
        overrides = dict(part.split("=", 1) for part in fragment.split("&") if "=" in part)
        retries = min(5, int(overrides.get("rc", "0") or 0))
        policy = set(overrides.get("rp", "ct").split(","))
        _loopback(url)
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        assert self._http is not None
        for attempt in range(retries + 1):
            self.requests.append((url, params))
            try:
                r = await self._http.post(url, data=params, headers=headers)
            except httpx.HTTPError as exc:
                failure, retryable = f"{exc!r}", bool(policy & {"ct", "rt", "all"})
            else:
                if r.status_code == 200:
                    self.documents.append(r.text)
                    self.answered_by.append((url, r.headers.get(NODE_HEADER)))
                    return r.text
                failure = f"{r.status_code} {r.text[:200]}"
                retryable = bool(policy & {f"{r.status_code // 100}xx", "all"})
            if not retryable or attempt == retries:
                break
        self._end(f"request failed: {url}: {failure}")
        return None

    async def _run(self, url: str, status: str) -> None:
        twiml = await self._request(url, self.call_params(status))
        while twiml is not None and not self._hung_up:
            document, base, twiml = twiml, url, None
            for verb in ET.fromstring(document):
                if verb.tag == "Hangup":
                    return self._end("<Hangup>")
                if verb.tag in ("Dial", "Record"):
                    return self._end(f"<{verb.tag}>")  # the caller leaves the gateway's hands
                if verb.tag != "Connect":
                    continue  # <Start><Transcription>, <Say>, <Pause>: nothing the fake needs to play
                stream = verb.find("Stream")
                if stream is None:
                    continue
                params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
                await self._stream(urljoin(base, stream.get("url")), params)
                if self._hung_up:
                    return self._end("hung up")
                action = verb.get("action")
                if action:
                    url = urljoin(base, action)
                    twiml = await self._request(url, self.call_params("in-progress"))
                    break  # the action's answer replaces the rest of this document
            else:
                return self._end("no more verbs")
        if not self.ended.is_set():
            self._end("hung up" if self._hung_up else "no more verbs")

    async def _stream(self, url: str, params: dict[str, str]) -> None:
        """One ``<Connect><Stream>``: open, start, talk and listen until the socket closes."""
        _loopback(url)
        if self.ws_base is not None:
            assert url.startswith(self.ws_base), f"the TwiML names {url}, not under {self.ws_base}"
        self.requests.append((url, {}))
        signature = self.validator.compute_signature(url, {})
        try:
            ws = await websockets.connect(url, additional_headers={"X-Twilio-Signature": signature})
        except (OSError, websockets.InvalidHandshake) as exc:
            self.failed_streams.append((url, repr(exc)))  # Twilio goes on to the action URL, as for a closed stream
            return
        leg = Leg(url, params, f"MZ{self.call_sid[2:]}{len(self.legs) + 1}", time.monotonic())
        if ws.response is not None:
            leg.node, leg.served_by = ws.response.headers.get(NODE_HEADER), ws.response.headers.get("x-served-by")
        self._ws, self._leg = ws, leg
        start = {
            "streamSid": leg.stream_sid,
            "accountSid": self.account_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        speaker = None
        try:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(
                json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": leg.stream_sid, "start": start})
            )
            self.legs.append(leg)
            self._changed.set()
            speaker = asyncio.ensure_future(self._speak(ws, leg))
            await self._listen(ws, leg)
        finally:
            leg.closed_at = leg.closed_at or time.monotonic()
            if speaker is not None:
                speaker.cancel()
                await asyncio.gather(speaker, return_exceptions=True)
            leg.close_code = ws.close_code
            self._changed.set()

    def _voice(self) -> list[bytes]:
        """The caller's 20 ms mu-law chunks, spoken in a loop: a steady tone (a subclass may speak otherwise)."""
        return mulaw_tone(self.hz, 1.0)

    def _speaking(self, i: int, chunks: int) -> None:
        """Chunk ``i`` of the ``chunks`` in the loop is about to go out: a subclass notes what it measures."""

    async def _speak(self, ws: websockets.ClientConnection, leg: Leg) -> None:
        chunks = self._voice()
        started = time.monotonic()
        i = 0
        with _gone():
            while True:
                self._speaking(i, len(chunks))
                media = {
                    "track": "inbound",
                    "chunk": str(i + 1),
                    "timestamp": str(i * 20),
                    "payload": base64.b64encode(chunks[i % len(chunks)]).decode(),
                }
                seq = str(i + 2)
                await ws.send(
                    json.dumps({"event": "media", "sequenceNumber": seq, "streamSid": leg.stream_sid, "media": media})
                )
                if leg.first_sent_at is None:
                    leg.first_sent_at = time.monotonic()
                    self._changed.set()
                leg.sent += 1
                i += 1
                await asyncio.sleep(max(0.0, started + i * 0.02 - time.monotonic()))  # real-time pacing of a caller

    async def _listen(self, ws: websockets.ClientConnection, leg: Leg) -> None:
        decoder = MulawDecoder()
        with _gone():
            async for text in ws:
                msg = json.loads(text)
                leg.events.append(msg)
                if msg.get("event") == "media":
                    for frame in decoder.pcm8k(base64.b64decode(msg["media"]["payload"])):
                        self.ear.add(frame.to_ndarray().reshape(-1))
                    leg.received += 1
                    if leg.first_received_at is None:
                        leg.first_received_at = time.monotonic()
                        self._changed.set()
                elif msg.get("event") == "mark":  # Twilio answers a mark once what came before it has played
                    await ws.send(json.dumps({"event": "mark", "streamSid": leg.stream_sid, "mark": msg["mark"]}))


class _gone:
    """Swallows a socket that closed under a send or a read: the caller side notices through the close itself."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        return kind is not None and issubclass(kind, websockets.ConnectionClosed | ConnectionError)


def _loopback(url: str) -> None:
    host = urlsplit(url).hostname
    assert host in LOOPBACK, f"the fake Twilio only calls loopback, not {url}"
