"""``/ws/chat``: the customer's chat widget.  Socket I/O only: the protocol lives in channels.chat, what it asks of the
core in channels.chat_driver."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.chat_driver import ChatDriver
from sessions.events import Event, chat_audience

from .hub import Hub, Subscriber
from .ws_frames import FrameRefused, receive_frames

log = logging.getLogger("gateway.chat")

#: Frames larger than this are refused (1009) before parsing.  What is wrong inside a well-formed
#: object (unknown type, invalid fields) is the chat protocol's to answer with an error frame.
MAX_FRAME = 16_384


async def chat_socket(ws: WebSocket) -> None:
    await ws.accept()
    state = ws.app.state
    hub: Hub = state.hub
    chat = ChatDriver(state.sessions, state.threads)
    sub: Subscriber | None = None
    pump: asyncio.Task[None] | None = None
    send_lock = asyncio.Lock()

    async def send(frames: list[dict[str, Any]]) -> None:
        async with send_lock:
            for frame in frames:
                await ws.send_text(json.dumps(frame))

    async def follow(sub: Subscriber) -> None:
        while not sub.closed:
            items = await sub.drain()
            if sub.overflowed:
                await ws.close(4008, "slow_consumer: resume the chat session")
                return
            for out in items:
                await send(await chat.on_event(Event.model_validate_json(out.text)))

    try:
        async for frame in receive_frames(ws, MAX_FRAME):
            if isinstance(frame, FrameRefused):
                async with send_lock:
                    await ws.close(frame.code, frame.reason)
                break
            replies = await chat.receive(frame)
            if sub is None and chat.interaction_id is not None:
                # Follow the interaction from now on, then send what slipped in between.
                sub = hub.subscribe(set(), {chat_audience(chat.interaction_id)}, None, state.settings.ws_buffer)
                pump = asyncio.create_task(follow(sub))
                await send(replies)
                await send(await chat.catch_up())
                continue
            await send(replies)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        if sub is not None:
            hub.unsubscribe(sub)
            sub.close()
        if pump is not None:
            pump.cancel()
