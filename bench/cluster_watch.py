"""Watching a call on a cluster (bench/balancer.py): which process holds it, the agent's socket through the balancer,
and polling for a condition.  Shared by bench/takeover.py and the suite's tests/gateway/test_cluster_calls.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import wave
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
import websockets

if __package__:  # the suite: bench.cluster_watch
    from bench.balancer import NODE_HEADER, Cluster
    from bench.peers import dominant_hz
    from bench.processes import GatewayProcess
else:  # a bench script (python bench/NAME.py) imports its siblings by name
    from balancer import NODE_HEADER, Cluster
    from peers import dominant_hz
    from processes import GatewayProcess


def node(p: GatewayProcess) -> str:
    return f"node-{p.port}"


async def call_home(c: Cluster, ix_id: str) -> str | None:
    """The node holding the call, as the processes record it in Redis."""
    r = aioredis.from_url(c.redis_url, decode_responses=True)
    try:
        text = await r.hget(f"{c.redis_prefix}:map:call_homes", ix_id)
    finally:
        await r.aclose()
    return json.loads(text)["node"] if text else None


async def until(condition, what: str, timeout: float = 20.0) -> float:
    """Polls ``condition`` (plain or async) every 10 ms; when it became true (monotonic), or fails (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


class AgentSocket:
    """The agent's /ws/agent through the balancer, read in the background; on a drop (its process killed) it
    reconnects at once from the last event, as the console does.  ``moved`` is set on interaction.audio_moved."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.url = f"{ws_url}/ws/agent?token={token}"
        self.seen: list[tuple[float, dict]] = []
        self.nodes: list[str | None] = []
        self.moved = asyncio.Event()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            since = f"&since={self.seen[-1][1]['id']}" if self.seen else ""
            with contextlib.suppress(websockets.ConnectionClosed, OSError, websockets.InvalidHandshake):
                async with websockets.connect(self.url + since) as ws:
                    self.nodes.append(ws.response.headers.get(NODE_HEADER) if ws.response else None)
                    async for text in ws:
                        event = json.loads(text)
                        self.seen.append((time.monotonic(), event))
                        if event["type"] == "interaction.audio_moved":
                            self.moved.set()
            await asyncio.sleep(0.02)

    def of(self, ix_id: str, kind: str | None = None) -> list[tuple[float, dict]]:
        return [
            (t, e)
            for t, e in self.seen
            if (e.get("interaction") or {}).get("id") == ix_id and (kind is None or e["type"] == kind)
        ]

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def recording_parts(ix: dict, data_dir: str) -> list[tuple[float, float]]:
    """Each recording of the interaction as written to the shared data directory: (seconds, the dominant frequency
    of the caller's channel)."""
    out = []
    for rec in ix["recordings"]:
        with wave.open(str(Path(data_dir) / "recordings" / f"{rec['id']}.wav")) as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
        caller = np.frombuffer(frames, dtype=np.int16).reshape(-1, 2)[:, 0]
        out.append((len(caller) / rate, dominant_hz(caller, rate) if len(caller) else 0.0))
    return out
