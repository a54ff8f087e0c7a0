"""A local stand-in for the few Twilio REST endpoints the gateway uses, on a loopback port.

The gateway reaches it through TWILIO_API_BASE, with the real ``twilio``
client: messages create, calls create and update, and recording media.
Failures can be injected to test what the gateway does when Twilio refuses
or stalls.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs

AUDIO = b"RIFF" + b"\x00" * 40 + bytes(range(256)) * 16  # a stand-in WAV body: bytes, not text


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    updates: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: The SIDs given to created calls, in order.
    call_sids: list[str] = field(default_factory=list)
    #: Set on every call update: a test waits on it instead of polling.
    updated: threading.Event = field(default_factory=threading.Event)
    downloads: list[str] = field(default_factory=list)
    #: Downloads to fail (500) before serving the audio.
    fail_downloads: int = 0
    #: When set, message creation is refused with this Twilio error code.
    refuse_messages: int | None = None
    #: When set, call updates (redirects, hang-ups) are refused with this Twilio error code.
    refuse_updates: int | None = None
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _authorised(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                return self.headers.get("Authorization") == expected

            def _reply(self, status: int, payload: dict | bytes, content_type: str = "application/json") -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if not self._authorised():
                    return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                base = f"/2010-04-01/Accounts/{fake.account_sid}"
                if self.path == f"{base}/Messages.json":
                    if fake.refuse_messages:
                        return self._reply(
                            400, {"code": fake.refuse_messages, "message": "Invalid 'To' Phone Number", "status": 400}
                        )
                    fake.messages.append(form)
                    return self._reply(
                        201,
                        {
                            "sid": f"SM{next(fake.ids):032d}",
                            "status": "queued",
                            "to": form.get("To"),
                            "from": form.get("From"),
                            "body": form.get("Body"),
                        },
                    )
                if self.path == f"{base}/Calls.json":
                    fake.calls.append(form)
                    fake.call_sids.append(f"CA{next(fake.ids):032d}")
                    return self._reply(
                        201,
                        {"sid": fake.call_sids[-1], "status": "queued", "to": form.get("To"), "from": form.get("From")},
                    )
                if self.path.startswith(f"{base}/Calls/") and self.path.endswith(".json"):
                    sid = self.path.rsplit("/", 1)[1].removesuffix(".json")
                    if fake.refuse_updates:
                        return self._reply(
                            400, {"code": fake.refuse_updates, "message": "Call is not in-progress", "status": 400}
                        )
                    fake.updates.append((sid, form))
                    fake.updated.set()
                    return self._reply(200, {"sid": sid, "status": "in-progress"})
                return self._reply(404, {"code": 20404, "message": "Not found", "status": 404})

            def do_GET(self) -> None:
                if not self._authorised():
                    return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if self.path.startswith("/recordings/"):
                    fake.downloads.append(self.path)
                    if fake.fail_downloads > 0:
                        fake.fail_downloads -= 1
                        return self._reply(500, {"message": "try later"})
                    return self._reply(200, AUDIO, "audio/x-wav")
                return self._reply(404, {"message": "Not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
