"""Chromium's side of a WebRTC call as a test sees it: the ICE candidate pair its audio travels on.

The console and the widget keep their RTCPeerConnection to themselves, so
`watch_peer_connections` installs (before any page script runs) a subclass
that remembers every instance; `routes_of` then reads each connected one's
candidates and, from `getStats()`, the transport's selected candidate pair.
"""

from __future__ import annotations

import asyncio
import threading

from playwright.sync_api import Page

from bench.peers import Route

_REMEMBER = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__peerConnections.push(this); }
  };
})();
"""

_ROUTES = """
async () => Promise.all(window.__peerConnections.filter(pc => pc.connectionState === "connected").map(async pc => {
  const stats = [...(await pc.getStats()).values()];
  const byId = Object.fromEntries(stats.map(s => [s.id, s]));
  const pair = byId[stats.find(s => s.type === "transport" && s.selectedCandidatePairId).selectedCandidatePairId];
  const addresses = sdp => sdp.split("\\r\\n").filter(l => l.startsWith("a=candidate:")).map(l => l.split(" ")[4]);
  return {gathered: addresses(pc.localDescription.sdp), remote_candidates: addresses(pc.remoteDescription.sdp),
          local: byId[pair.localCandidateId].address, remote: byId[pair.remoteCandidateId].address};
}))
"""


def watch_peer_connections(page: Page) -> None:
    """Call before the page loads: every RTCPeerConnection it makes is kept for `routes_of`."""
    page.add_init_script(_REMEMBER)


def routes_of(page: Page, timeout_ms: float = 15_000) -> list[Route]:
    """The ICE route of each of the page's connected peer connections, once one is connected.

    The candidates are those signalled (Chromium's offer, the gateway's answer); the pair is the one selected.
    """
    page.wait_for_function(
        "() => (window.__peerConnections || []).some(pc => pc.connectionState === 'connected')", timeout=timeout_ms
    )
    return [
        Route(
            gathered=tuple(r["gathered"]),
            remote_candidates=tuple(r["remote_candidates"]),
            local=r["local"],
            remote=r["remote"],
        )
        for r in page.evaluate(_ROUTES)
    ]


class Loop:
    """An asyncio loop in a thread, for the async peers (aiortc agents, the fake Twilio call) beside the synchronous
    Playwright test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
