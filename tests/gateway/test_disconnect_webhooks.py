"""Disconnects reported by Twilio's signed voice status webhook: the customer hanging up a claimed call ends it for the
agent."""

# The fixtures are shared with the module imported below; its tests take them as arguments:
# ruff: noqa: F811
from __future__ import annotations

from tests.channels.twilio_scenario import CUSTOMER, Twilio, agent_online, fake, twilio  # noqa: F401
from tests.gateway.conftest import assert_error

SUPPORT_NUMBER = "+15550002000"


def claimed_call(t: Twilio, headers: dict[str, str], call_sid: str = "CA100", queue: str = "sales", **kw: str) -> dict:
    t.call(call_sid, **kw)
    [ix] = t.gw.client.get(f"/api/queues/{queue}/interactions?state=active", headers=t.gw.admin).json()["items"]
    r = t.gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def hang_up(t: Twilio, call_sid: str = "CA100", status: str = "completed"):
    r = t.post("voice/status", {"CallSid": call_sid, "CallStatus": status, "CallDuration": "42"})
    assert r.status_code == 204, r.text


def test_customer_hanging_up_a_claimed_call_moves_it_to_wrap_up_saying_so_and_a_retry_changes_nothing(twilio: Twilio):
    alice = agent_online(twilio)
    ix = claimed_call(twilio, alice)
    hang_up(twilio)
    after = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
    assert (after["status"], after["assigned_to"]) == ("wrap_up", ix["assigned_to"])
    assert {k: after["disconnect"][k] for k in ("by", "reason", "channel")} == {
        "by": "customer",
        "reason": "hang_up",
        "channel": "phone",
    }
    [ended] = [a for a in after["activity"] if a["kind"] == "ended"]
    assert (ended["by"], ended["data"]["disconnect"]["by"], ended["data"]["disconnect"]["reason"]) == (
        "customer",
        "customer",
        "hang_up",
    )

    hang_up(twilio)  # Twilio delivers at least once
    again = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
    assert again == after


def test_the_agent_ending_first_is_the_agent_hanging_up_and_the_call_ending_after_it_changes_nothing(twilio: Twilio):
    alice = agent_online(twilio)
    ix = claimed_call(twilio, alice)
    ended = twilio.gw.client.post(
        f"/api/interactions/{ix['id']}/end", json={"outcome": "resolved"}, headers=alice
    ).json()
    assert (ended["disconnect"]["by"], ended["disconnect"]["reason"]) == ("agent", "hang_up")
    hang_up(twilio)
    after = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
    assert after["disconnect"] == ended["disconnect"] and after["status"] == "wrap_up"


def test_a_queue_that_keeps_it_claimed_tells_the_agent_and_keeps_the_agent_on_it(twilio: Twilio):
    twilio.gw.queue("support", phone_number=SUPPORT_NUMBER, wrap_up_on_disconnect=False)
    bob = twilio.gw.agent("bob", ["support"])
    ix = claimed_call(twilio, bob, "CA200", "support", to=SUPPORT_NUMBER)
    hang_up(twilio, "CA200")
    after = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=bob).json()
    assert (after["status"], after["disconnect"]["by"], after["activity"][-1]["kind"]) == (
        "claimed",
        "customer",
        "disconnected",
    )
    assert twilio.gw.client.get("/api/queues/support", headers=bob).json()["settings"]["wrap_up_on_disconnect"] is False


def test_an_outbound_call_that_was_busy_goes_to_wrap_up_by_the_provider(twilio: Twilio):
    alice = agent_online(twilio)
    r = twilio.gw.client.post(
        "/api/interactions",
        json={"queue_id": "sales", "type": "call", "subtype": "phone", "customer": {"phone": CUSTOMER}},
        headers=alice,
    )
    assert r.status_code == 201, r.text
    hang_up(twilio, twilio.fake.call_sids[0], "busy")
    after = twilio.gw.client.get(f"/api/interactions/{r.json()['id']}", headers=alice).json()
    assert (after["status"], after["disconnect"]["by"], after["disconnect"]["reason"]) == (
        "wrap_up",
        "provider",
        "busy",
    )


def test_a_call_continued_by_text_is_not_wrapped_up_when_its_call_hangs_up(twilio: Twilio):
    alice = agent_online(twilio)
    ix = claimed_call(twilio, alice)
    r = twilio.gw.client.post(
        f"/api/interactions/{ix['id']}/switch", json={"type": "messaging", "subtype": "text"}, headers=alice
    )
    assert r.status_code == 200, r.text
    hang_up(twilio)
    after = twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()
    assert (after["status"], after["disconnect"]) == ("claimed", None)
    r = twilio.gw.client.post(
        f"/api/interactions/{ix['id']}/messages", json={"body": "We'll go on here."}, headers=alice
    )
    assert r.status_code in (200, 201), r.text


def test_unsigned_status_is_refused_and_changes_nothing(twilio: Twilio):
    alice = agent_online(twilio)
    ix = claimed_call(twilio, alice)
    assert_error(twilio.post("voice/status", {"CallSid": "CA100", "CallStatus": "completed"}, signature="forged"), 403)
    assert twilio.gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()["status"] == "claimed"
