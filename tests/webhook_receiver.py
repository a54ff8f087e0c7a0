"""An integrator's webhook endpoint for tests: an HTTP server on 127.0.0.1 in a thread of its own.

It records every request it is sent (headers, body, what it answered) and checks each one the way an integrator
would, with the ``standardwebhooks`` library, so a delivery that does not verify is a test failure rather than a
silently accepted request.  What it answers is the test's to decide (``answer``): 2xx, 503, 410, a redirect (3xx, to
``/elsewhere``), or hang (hold the request open until the receiver is told to stop).  It can also go away entirely
(``down()``: the port refuses connections) and come back on the same port (``up()``), which is how an integrator's
outage looks from the gateway.

Tests synchronise on ``wait_for`` (a condition every recorded request notifies), never on sleeps.  The ``receiver``
fixture is one listening for the length of a test (import it into the test module to use it by name).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

#: ``answer``'s verdict for a request that should never get an answer (the gateway's timeout ends it).
HANG = None
#: Where the receiver listens (``Receiver.url``); a test may add to it (``url + "/slow"``) to tell requests apart.
PATH = "/hooks/switchboard"


@dataclass
class Request:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    #: What the receiver answered (None: it hung, or has not answered yet).
    status: int | None = None
    #: Why standardwebhooks refused it (None: it verified; "" until a secret is known).
    verify_error: str | None = ""

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def document(self) -> dict:
        return json.loads(self.body)

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def verified(self, secret: str) -> dict:
        """The document, once ``standardwebhooks`` has checked its signature for ``secret`` (raises if it does not)."""
        return Webhook(secret).verify(self.body, self.headers)


Answer = Callable[[Request, list[Request]], int | None]


def always(status: int) -> Answer:
    return lambda request, history: status


def scripted(*statuses: int | None, then: int = 200) -> Answer:
    """The n-th request gets ``statuses[n]``, every request after them ``then``."""
    return lambda request, history: statuses[len(history)] if len(history) < len(statuses) else then


def at_least(count: int) -> Callable[[list[Request]], bool]:
    """A ``wait_for`` check: ``count`` requests have come."""
    return lambda requests: len(requests) >= count


@dataclass(eq=False)
class Receiver:
    """The endpoint.  ``answer(request, earlier_requests)`` picks the status (``HANG`` to hold it open); ``secret`` is
    the subscription's, set once the gateway has shown it (requests that arrived before are verified then)."""

    answer: Answer = field(default_factory=lambda: always(200))
    secret: str | None = None
    requests: list[Request] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def up(self) -> None:
        """Listens (again) on ``port`` (a free one the first time)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            """HTTP/1.0 (the default): one request per connection, so after ``down()`` no kept-alive connection still
            reaches a handler and the outage is real."""

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                status = receiver._record(request)
                if status is HANG:
                    receiver._released.wait()
                    return
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", receiver.url + "/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the gateway's log is the one a failing test prints

        self._released.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stops listening: connections to the port are refused until ``up()``; hung requests are cut off."""
        if self._server is not None:
            self._released.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_secret(self, secret: str) -> None:
        with self.changed:
            self.secret = secret
            for request in self.requests:
                if request.verify_error == "":
                    request.verify_error = self._verify(request)

    def _verify(self, request: Request) -> str | None:
        assert self.secret is not None
        try:
            request.verified(self.secret)
        except Exception as exc:  # noqa: BLE001 (any refusal is the finding)
            return f"{type(exc).__name__}: {exc}"
        return None

    def _record(self, request: Request) -> int | None:
        with self.changed:
            if self.secret is not None:
                request.verify_error = self._verify(request)
            status = self.answer(request, list(self.requests))
            request.status = status
            self.requests.append(request)
            self.changed.notify_all()
            return status

    def wait_for(self, check: Callable[[list[Request]], bool], what: str, timeout: float = 30) -> list[Request]:
        """Blocks until ``check(requests)`` holds (re-checked on every request); returns a copy of the requests."""
        with self.changed:
            if not self.changed.wait_for(lambda: check(self.requests), timeout):
                seen = [(r.webhook_id, r.status) for r in self.requests]
                raise AssertionError(
                    f"not within {timeout:g} s: {what}; the receiver saw {len(seen)} requests, the last: {seen[-20:]}"
                )
            return list(self.requests)

    def connected(self, pids: list[int]) -> list[int]:
        """Which of the processes ``pids`` hold an established TCP connection to the receiver: the one sending a
        request it holds open (Linux: /proc)."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()  # remote address is fields[2] (hex port after the colon); 01 is ESTABLISHED
                    if int(fields[2].rsplit(":", 1)[1], 16) == self.port and fields[3] == "01":
                        inodes.add(f"socket:[{fields[9]}]")
        holders = []
        for pid in pids:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        holders.append(pid)
                        break
                except FileNotFoundError:
                    continue  # closed meanwhile
        return holders

    def snapshot(self) -> list[Request]:
        with self.changed:
            return list(self.requests)

    def assert_all_verified(self) -> None:
        """Every request carried a valid Standard Webhooks signature for the subscription's secret."""
        with self.changed:
            assert self.secret is not None, "the receiver was never given the subscription's secret"
            refused = [(r.webhook_id, r.verify_error) for r in self.requests if r.verify_error is not None]
            assert not refused, f"deliveries standardwebhooks refuses: {refused}"


def delivered_ids(requests: list[Request]) -> set[str]:
    """The webhook-ids the receiver answered 2xx."""
    return {r.webhook_id for r in requests if r.delivered}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver listening for the length of the test, answering 200 until the test says otherwise."""
    r = Receiver()
    r.up()
    yield r
    r.down()
