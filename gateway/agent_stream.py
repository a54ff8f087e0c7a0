"""An agent socket's live events: written straight to the connection, a flusher only while it cannot take them.

Once its replay is done, a socket is *live*: the hub writes each event's frame to its connection as the
event is dispatched (``Subscriber.write_now``), so an idle socket costs no task and no queue of ours,
and a busy one costs no task wake-up per event.  Only when the connection cannot take a frame now (the
client is slow and uvicorn paused the transport) or something must end the socket (sign-out, overflow)
does :class:`Live` start a flusher task; it sends what was buffered through ASGI's ``send``, which
waits for the transport, and ends when the buffer is empty, so direct writes resume in order.

Ending: whoever notices first records why in :class:`Ending`; :func:`end` closes the socket with that
code, or resets the connection when the client takes nothing, not even the close frame, within
``ws_stall_seconds`` (gateway/ws_transport.py).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from . import ws_transport
from .hub import Outgoing, Subscriber

log = logging.getLogger("gateway.ws")

CLOSE_UNAUTHORIZED = 4401
CLOSE_SLOW_CONSUMER = 4008


class Ending:
    """Why the socket ends, set by whichever side notices first (reader, hub, flusher)."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.reason = ""
        #: The close has been sent (or the connection reset): nothing more goes out.
        self.done = False

    def set(self, code: int, reason: str) -> None:
        if self.code is None:
            self.code, self.reason = code, reason[:120]


class Stalled(Exception):
    """The client took nothing for ``ws_stall_seconds``: it stopped reading."""

    def __init__(self, last: int) -> None:
        super().__init__(f"stalled at {last}")
        self.last = last


def resume_reason(last: int) -> str:
    return f"slow_consumer: resume with since={last}"


async def send_items(ws: WebSocket, items: list[Outgoing], last: int, stall_seconds: float) -> int:
    """Sends the items newer than ``last``; returns the key of the last one sent.

    One deadline for the batch: a client whose window stays shut that long raises Stalled with the
    last key that reached the transport, which is where it resumes.
    """
    try:
        async with asyncio.timeout(stall_seconds):
            for out in items:
                if out.key > last:
                    await ws.send_text(out.text)
                    last = out.key
    except TimeoutError:
        raise Stalled(last) from None
    return last


async def end(ws: WebSocket, ending: Ending, stall_seconds: float, who: str) -> None:
    """Closes the socket with the recorded code (once); resets the connection if even the close cannot get out."""
    if ending.code is None or ending.done:
        return
    ending.done = True
    try:
        async with asyncio.timeout(stall_seconds):
            await ws.close(ending.code, ending.reason)
    except TimeoutError:
        # The client reads nothing, so the close frame cannot get out: drop the connection rather than
        # hold it and its send buffers.  It resumes from the last event it read.
        if ws_transport.abort(ws):
            log.info(
                "agent socket of %s took nothing, not even its close, for %.0f s: connection reset", who, stall_seconds
            )
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away first


class Live:
    """Attaches a subscriber to its socket for direct writes, and flushes it when they cannot go out."""

    def __init__(self, ws: WebSocket, sub: Subscriber, ending: Ending, stall_seconds: float, who: str) -> None:
        self.ws = ws
        self.sub = sub
        self.ending = ending
        self.stall_seconds = stall_seconds
        self.who = who
        self.task: asyncio.Task[None] | None = None

    def start(self, last: int) -> None:
        """Goes live after a replay that sent up to ``last``: what was buffered meanwhile is flushed first."""
        sub = self.sub
        sub.sent = max(sub.sent, last)
        sub.write_now = ws_transport.frame_writer(self.ws)
        sub.wake = self._wake
        if sub.buffer or sub.closed or sub.overflowed:
            self._wake()

    def _wake(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        sub, ending = self.sub, self.ending
        sub.flushing = True
        try:
            while not ending.done:
                if sub.revoked:
                    ending.set(CLOSE_UNAUTHORIZED, "unauthorized: signed out")
                    break
                if sub.overflowed:
                    ending.set(CLOSE_SLOW_CONSUMER, resume_reason(sub.sent))
                    break
                if sub.closed or not sub.buffer:
                    return
                sub.sent = await send_items(self.ws, sub.take(), sub.sent, self.stall_seconds)
        except Stalled as exc:
            log.info(
                "agent socket of %s stalled (nothing taken for %.0f s) at %s; closing",
                self.who,
                self.stall_seconds,
                exc.last,
            )
            ending.set(CLOSE_SLOW_CONSUMER, resume_reason(exc.last))
        except (WebSocketDisconnect, RuntimeError, OSError):
            # The connection is gone or closing without us (uvicorn's keepalive timed out, say): end it for the
            # handler too, whose receive() may otherwise wait for a disconnect that a peer not reading delays.
            self._detach()
            ws_transport.abort(self.ws)
            return
        finally:
            sub.flushing = False
        # The ending and its resume cursor are decided: nothing more may go out before the close, not even a
        # direct write the moment the transport takes writes again.
        self._detach()
        await end(self.ws, ending, self.stall_seconds, self.who)

    def _detach(self) -> None:
        self.sub.write_now = self.sub.wake = None
        self.sub.close()

    async def stop(self) -> None:
        """Detaches; a flusher that is closing the socket finishes (bounded by the stall time), any other stops."""
        self.sub.write_now = self.sub.wake = None
        task = self.task
        if task is None or task.done():
            return
        if self.ending.done:
            try:
                await asyncio.shield(task)
            except Exception:  # the close failed: the handler still ends, and records the agent leaving
                log.exception("closing the agent socket of %s failed", self.who)
        else:
            task.cancel()
