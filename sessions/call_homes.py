"""Which gateway process holds each live call, and how to reach each process: the registry several processes share.

A live call's audio (its bridge: the caller's media stream, the browsers' WebRTC peers, the mixer, the recording)
runs in one process, its *home*.  Any other process a leg lands on forwards that leg's request to the home
(``gateway/forwarding.py``), so it must find the home's node and that node's internal URL.  Both are kept in the
store's live maps (Redis hashes with Redis; SQL with one process), each entry with an expiry that its process
renews while it lives: a process that dies stops being anyone's home within ``ttl`` seconds, and a call's home is
taken over at once by the process where the caller's new media stream lands (Twilio has one caller stream per call,
so a new one means the old one is gone).  Nothing here must survive: the call itself, and who is on it, are in the
interaction.  A mixin of :class:`sessions.service.Sessions`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from .clock import Clock
from .stores.base import Store

#: The store maps of the registry (live maps: Redis hashes when Redis is the live layer).
NODES = "nodes"
CALL_HOMES = "call_homes"


@dataclass(frozen=True)
class CallHome:
    """Where a live call runs: ``node`` holds its bridge, writing ``recording_id`` (the part of the recording made
    there); ``lost_at`` is when the caller's stream was reported gone (the start of the caller's silence);
    ``handed_off``: its node let the call go itself (its recording part is attached: nothing is left to rescue);
    ``claimed_at``: when its node claimed the call (of two nodes both renewing one call, the later claim wins)."""

    interaction_id: str
    node: str
    recording_id: str | None
    expires: float
    lost_at: float | None = None
    handed_off: bool = False
    claimed_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CallHome | None:
        """The entry as stored, or None for one this version cannot read (it is then as good as absent)."""
        try:
            data = json.loads(text)
            return cls(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None


class CallHomes:
    """Relies on the store and the clock of ``Sessions``."""

    store: Store
    clock: Clock

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def register_node(self, node: str, url: str, ttl: float) -> None:
        """This process answers at ``url`` (its internal address) for the next ``ttl`` seconds."""
        await self.store.map_set(NODES, node, json.dumps({"url": url, "expires": self._now() + ttl}))

    async def forget_node(self, node: str) -> None:
        """A clean stop: nobody forwards here any more."""
        await self.store.map_delete(NODES, node)

    async def node_url(self, node: str) -> str | None:
        """The internal URL of a live process, or None if it is not registered (or its entry expired)."""
        text = await self.store.map_get(NODES, node)
        try:
            entry = json.loads(text) if text else None
        except ValueError:
            return None
        if not isinstance(entry, dict) or float(entry.get("expires", 0)) <= self._now():
            return None
        url = entry.get("url")
        return url if isinstance(url, str) else None

    async def call_home(self, interaction_id: str) -> CallHome | None:
        """Where the call runs now, or None (no live call, or its home stopped renewing it)."""
        text = await self.store.map_get(CALL_HOMES, interaction_id)
        home = CallHome.from_json(text) if text else None
        return home if home is not None and home.expires > self._now() else None

    async def claim_call_home(
        self, interaction_id: str, node: str, recording_id: str | None, ttl: float
    ) -> CallHome | None:
        """Makes ``node`` the call's home, whoever held it (the caller's stream is here now); answers the home it
        had on another node, expired or not (its recording part may be left to finish), or on this node when its
        stream there was lost (a stream that came back to the same process), else None."""
        text = await self.store.map_get(CALL_HOMES, interaction_id)
        before = CallHome.from_json(text) if text else None
        now = self._now()
        home = CallHome(interaction_id, node, recording_id, now + ttl, claimed_at=now)
        await self.store.map_set(CALL_HOMES, interaction_id, home.to_json())
        if before is None or (before.node == node and before.lost_at is None and not before.handed_off):
            return None
        return before

    async def refresh_call_homes(self, node: str, calls: dict[str, tuple[str | None, float]], ttl: float) -> None:
        """Renews this node's calls (interaction id -> (its recording part here, when this node claimed it)).

        A call another node claimed later is left to it.  One that another node holds with an older claim is taken
        back: the entry is read, then written, so the old home's last renewal can land just after a new claim; the
        new home's next renewal puts it right, instead of leaving the call with a home that no longer holds it."""
        for interaction_id, (recording_id, claimed_at) in calls.items():
            text = await self.store.map_get(CALL_HOMES, interaction_id)
            current = CallHome.from_json(text) if text else None
            if current is not None and current.node != node and current.claimed_at > claimed_at:
                continue
            home = CallHome(interaction_id, node, recording_id, self._now() + ttl, claimed_at=claimed_at)
            await self.store.map_set(CALL_HOMES, interaction_id, home.to_json())

    async def release_call_home(self, interaction_id: str, node: str) -> None:
        """The call no longer runs on ``node`` (it ended, or was handed over); another node's claim is kept."""
        text = await self.store.map_get(CALL_HOMES, interaction_id)
        current = CallHome.from_json(text) if text else None
        if current is not None and current.node == node:
            await self.store.map_delete(CALL_HOMES, interaction_id)

    async def note_stream_lost(self, interaction_id: str) -> None:
        """Twilio reports the caller's stream gone (its ``<Connect action>`` request): the caller's silence starts
        now, and the process that takes the call over measures it from here."""
        text = await self.store.map_get(CALL_HOMES, interaction_id)
        current = CallHome.from_json(text) if text else None
        if current is None or current.lost_at is not None:
            return
        await self.store.map_set(CALL_HOMES, interaction_id, replace(current, lost_at=self._now()).to_json())

    async def hand_off_call_home(self, interaction_id: str, node: str) -> None:
        """``node`` let the call go (its caller's stream dropped, or it is stopping) with its recording part attached:
        the entry stays, marked, for the process the caller's next stream lands on to say where the call came from
        (released, the taker would not know), and expires as usual.  Another node's claim is kept."""
        text = await self.store.map_get(CALL_HOMES, interaction_id)
        current = CallHome.from_json(text) if text else None
        if current is None or current.node != node:
            return
        lost_at = current.lost_at if current.lost_at is not None else self._now()
        marked = replace(current, lost_at=lost_at, handed_off=True)
        await self.store.map_set(CALL_HOMES, interaction_id, marked.to_json())

    async def forget_expired_call_homes(self) -> int:
        """Drops entries whose process stopped renewing them (a killed process's calls, long over)."""
        now = self._now()
        stale = [
            key
            for key, text in (await self.store.map_all(CALL_HOMES)).items()
            if (home := CallHome.from_json(text)) is None or home.expires + 3600 <= now
        ]
        await self.store.map_delete(CALL_HOMES, *stale)
        return len(stale)

    async def forget_expired_nodes(self) -> int:
        """Drops registrations their process stopped renewing an hour ago or more: node ids are new at every start,
        so a killed process's entry would otherwise stay for ever (nobody forgets it for the dead process)."""
        now = self._now()
        stale = []
        for key, text in (await self.store.map_all(NODES)).items():
            try:
                entry = json.loads(text)
                expires = float(entry.get("expires", 0)) if isinstance(entry, dict) else 0.0
            except (ValueError, TypeError):
                expires = 0.0
            if expires + 3600 <= now:
                stale.append(key)
        await self.store.map_delete(NODES, *stale)
        return len(stale)
