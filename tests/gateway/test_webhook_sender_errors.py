"""A fault inside the HTTP stack is one more failed attempt, never an exception out of the sender.

Seen in a multi-process run: a receiver dropping a connection the gateway had just opened made httpcore/anyio raise
``AttributeError`` (``'NoneType' object has no attribute 'getpeername'``) from the connection's set-up.  Escaping
``send``, it was logged as a traceback, no attempt was recorded and the subscription's lane stalled; as an attempt
with no answer it is retried on the schedule like a refused connection."""

from __future__ import annotations

import pytest

from gateway.webhook_sender import WebhookSender

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_an_error_of_the_http_stack_is_an_attempt_without_an_answer(monkeypatch: pytest.MonkeyPatch):
    sender = WebhookSender(allow_private=True)

    async def broken_stack(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'getpeername'")

    monkeypatch.setattr(sender.client, "post", broken_stack)
    try:
        attempt = await sender.send("http://127.0.0.1:9/hook", "msg_s_1", "{}", [SECRET])
    finally:
        await sender.close()
    assert attempt.status is None, "no answer: retried like a refused connection"
    assert attempt.error is not None and "getpeername" in attempt.error
