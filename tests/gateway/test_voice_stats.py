"""GET /api/voice/stats: an admin reads this process's live calls and its mixing clocks' tick counts."""

from __future__ import annotations

from channels.mixer import Part
from channels.voice_bridge import CALLER, Bridge
from tests.gateway.conftest import Gateway, assert_error


def stats(gw: Gateway) -> dict:
    r = gw.client.get("/api/voice/stats", headers=gw.admin)
    assert r.status_code == 200, r.text
    return r.json()


def test_only_admins_read_the_voice_figures(gw: Gateway):
    gw.queue("sales")
    agent = gw.agent("alice", ["sales"])
    assert_error(gw.client.get("/api/voice/stats", headers=agent), 403)
    assert_error(gw.client.get("/api/voice/stats"), 401)


def test_a_bridged_call_is_counted_live_and_its_ticks_stay_in_the_totals_after_it_ends(gw: Gateway):
    gw.queue("sales")
    agent = gw.agent("alice", ["sales"])
    assert stats(gw) == {"node": gw.app.state.node, "bridges": 0, "legs": 0, "ticks": 0, "late": 0, "skipped": 0}
    ix_id = gw.claimed("sales", agent)["id"]
    live = gw.app.state.live_calls

    async def bridge_the_caller() -> Bridge:
        bridge = await live.open(await gw.app.state.sessions.interaction(ix_id), "rec-stats", 8000)

        async def to_twilio(text: str) -> None:
            return None

        bridge.add_twilio(CALLER, Part.CALLER, "CA1", "MZ1", to_twilio)  # starts the bridge's clock
        return bridge

    bridge = gw.call(bridge_the_caller)
    gw.until(lambda: stats(gw)["ticks"] >= 5, "the bridge's clock to tick")
    during = stats(gw)
    assert (during["bridges"], during["legs"]) == (1, 1)

    gw.call(live.close, bridge)
    after = stats(gw)
    assert (after["bridges"], after["legs"]) == (0, 0)
    assert after["ticks"] >= during["ticks"], "an ended call's ticks stay in the process's totals"
