"""A webhook receiver on 127.0.0.1 for tests: scripted answers, every request recorded, verified by the caller with
the ``standardwebhooks`` library (as an integrator would)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of ``script`` (then ``then``), and records it."""

    script: list[int] = field(default_factory=list)
    then: int = 200
    requests: list[Received] = field(default_factory=list)
    #: While cleared, requests to /slow hang (a receiver that never answers).
    released: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def answer(self) -> int:
        return self.script.pop(0) if self.script else self.then

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= count, timeout):
                pytest.fail(f"the receiver got {len(self.requests)} requests, not {count}, within {timeout:g} s")
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/slow":
                rec.released.wait(30)
            with rec.changed:
                rec.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = 302 if self.path == "/moved" else rec.answer()
                rec.changed.notify_all()
            self.send_response(status)
            if status == 302:
                self.send_header("location", rec.url + "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.released.set()
    server.shutdown()
    server.server_close()


def verified(secret: str, r: Received) -> dict:
    """The body, after ``standardwebhooks`` checked its signature (raises if it does not verify)."""
    return Webhook(secret).verify(r.body, r.headers)
