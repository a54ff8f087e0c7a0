"""Making a race happen on purpose: racers that would otherwise run one after another are held until all have read."""

from __future__ import annotations

import asyncio


def gate_reads(store, n: int, interaction_id: str | None = None) -> None:
    """Holds the first ``n`` reads (of ``interaction_id`` only, if given) until all ``n`` have read.

    Every racer then decides on the same version.  Without this the racers may happen to run one after another and
    a test would pass even with no concurrency control at all.
    """
    barrier = asyncio.Barrier(n)
    read = store.get_interaction
    calls = 0

    async def gated(iid: str):
        nonlocal calls
        ix = await read(iid)
        if interaction_id in (None, iid):
            calls += 1
            if calls <= n:
                await asyncio.wait_for(barrier.wait(), 30)
        return ix

    store.get_interaction = gated
