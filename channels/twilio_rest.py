"""The few Twilio REST calls the gateway makes, through the ``twilio`` library.

The library's client is synchronous (requests); calls run in a worker
thread so the event loop never blocks on the network.  ``api_base``
(TWILIO_API_BASE) points the client at another host, which is how the tests
run it against a local server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NoReturn

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client


class ProviderError(Exception):
    """The provider refused or could not be reached; ``code`` is its error code where it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str


class TwilioRest:
    #: Whether anything can go out; background jobs (voicemail timer, recording downloads) idle when not.
    configured = True

    def __init__(self, account_sid: str, auth_token: str, api_base: str | None = None, timeout: float = 10.0) -> None:
        self.client = Client(account_sid, auth_token)
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")
        self.auth = (account_sid, auth_token)
        self.timeout = timeout

    async def _run(self, fn, *args, **kwargs):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except TwilioRestException as exc:
            raise ProviderError(f"Twilio refused: {exc.msg}", str(exc.code) if exc.code else None) from exc
        except (TwilioException, OSError, requests.RequestException) as exc:
            raise ProviderError(f"Twilio unreachable: {exc}") from exc

    async def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> Sent:
        msg = await self._run(
            self.client.messages.create, to=to, from_=from_, body=body, status_callback=status_callback
        )
        return Sent(msg.sid, msg.status or "queued")

    async def create_call(self, *, to: str, from_: str, twiml: str, status_callback: str | None) -> Sent:
        events = (
            {
                "status_callback": status_callback,
                "status_callback_event": ["initiated", "ringing", "answered", "completed"],
            }
            if status_callback
            else {}
        )
        call = await self._run(self.client.calls.create, to=to, from_=from_, twiml=twiml, **events)
        return Sent(call.sid, call.status or "queued")

    async def hang_up(self, call_sid: str) -> None:
        await self._run(lambda: self.client.calls(call_sid).update(status="completed"))

    async def redirect_call(self, call_sid: str, twiml: str) -> None:
        await self._run(lambda: self.client.calls(call_sid).update(twiml=twiml))

    async def download(self, url: str) -> bytes:
        """Fetches media (a recording) with the account's credentials.

        The library's own request() decodes bodies as text, which would mangle
        audio, so this uses its underlying requests session (same pool, same
        proxy settings) directly.
        """

        def get() -> bytes:
            session = self.client.http_client.session or requests.Session()
            response = session.get(url, auth=self.auth, timeout=self.timeout)
            if response.status_code != 200:
                raise ProviderError(f"Download of {url} answered {response.status_code}", str(response.status_code))
            return response.content

        return await self._run(get)


class UnconfiguredTwilio:
    """Stands in for ``TwilioRest`` when TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are not set.

    Every call raises the one ``not_configured`` ProviderError, so callers handle it as any provider refusal
    instead of each checking for a missing client.
    """

    configured = False

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        message = "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): nothing can be sent or placed."
        raise ProviderError(message, "not_configured")

    async def send_sms(self, *, to: str, from_: str, body: str, status_callback: str) -> Sent:
        self._refuse()

    async def create_call(self, *, to: str, from_: str, twiml: str, status_callback: str | None) -> Sent:
        self._refuse()

    async def hang_up(self, call_sid: str) -> None:
        self._refuse()

    async def redirect_call(self, call_sid: str, twiml: str) -> None:
        self._refuse()

    async def download(self, url: str) -> bytes:
        self._refuse()


def twilio_rest(
    account_sid: str | None, auth_token: str | None, api_base: str | None = None
) -> TwilioRest | UnconfiguredTwilio:
    """The REST client for these credentials, or the stand-in that refuses everything when either is missing."""
    return TwilioRest(account_sid, auth_token, api_base) if account_sid and auth_token else UnconfiguredTwilio()
