"""Outbound webhooks, the rules: what may be subscribed, what a subscription covers, retries, pausing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

import pytest

from sessions.errors import InvalidCommand
from sessions.events import Event, EventType
from sessions.model import CommType, Customer, Direction, Interaction, Subtype
from sessions.webhooks import (
    SUBSCRIBABLE,
    Delivery,
    DeliveryStatus,
    Outcome,
    RetrySchedule,
    Subscription,
    check_events,
    check_url,
    classify,
    covers,
    message_id,
    new_secret,
    pause_reason,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def sub(events: list[str], queues: list[str] | None = None) -> Subscription:
    return Subscription(
        id="s1", url="https://example.com/hook", events=events, queues=queues or [], created_at=T0, updated_at=T0
    )


def event(type: EventType, queues: list[str], interaction: bool = True) -> Event:
    ix = Interaction(
        id="ix1",
        queue_id=queues[0] if queues else "sales",
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        direction=Direction.INBOUND,
        customer=Customer(name="Carla"),
        created_at=T0,
    )
    return Event(id="7", type=type, at=T0, interaction=ix if interaction else None, queues=queues)


# -- what may be subscribed ------------------------------------------------------


def test_only_interaction_events_are_subscribable():
    assert "interaction.created" in SUBSCRIBABLE and "interaction.completed" in SUBSCRIBABLE
    assert all(t.startswith("interaction.") for t in SUBSCRIBABLE)
    for private_or_other in ("direct_message.sent", "presence.changed", "user.saved", "permissions.changed"):
        assert private_or_other not in SUBSCRIBABLE


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["interaction.nope"],
        ["direct_message.sent"],
        ["direct_message.read"],
        ["presence.changed"],
        ["user.changed"],
        ["permissions.changed"],
        ["queue.changed"],
        ["queue.metrics"],
        ["chat.typing"],
        ["*", "interaction.created"],
    ],
)
def test_anything_but_interaction_event_types_is_refused(names):
    with pytest.raises(InvalidCommand):
        check_events(names)


def test_star_and_named_types_are_accepted_duplicates_dropped():
    assert check_events(["*"]) == ["*"]
    assert check_events(["interaction.created", "interaction.created", "interaction.ended"]) == [
        "interaction.created",
        "interaction.ended",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "https://u:p@example.com/",
        "example.com/hook",
        "https://" + "a" * 2000 + ".com/",
        "http://[::1/",
    ],
)
def test_urls_must_be_http_or_https_with_a_host(url):
    with pytest.raises(InvalidCommand):
        check_url(url)


def test_http_and_https_urls_pass():
    assert check_url("https://crm.example.com/hooks?x=1") and check_url("http://127.0.0.1:9000/h")


# -- what a subscription covers ----------------------------------------------------


def test_covers_named_types_only():
    s = sub(["interaction.created"])
    assert covers(s, event(EventType.CREATED, ["sales"]))
    assert not covers(s, event(EventType.ENDED, ["sales"]))


def test_star_covers_every_interaction_event_and_nothing_private():
    s = sub(["*"])
    assert covers(s, event(EventType.NOTE_ADDED, ["sales"]))
    assert not covers(s, event(EventType.DIRECT_MESSAGE_SENT, [], interaction=False))
    assert not covers(s, event(EventType.PRESENCE_CHANGED, [], interaction=False))
    assert not covers(s, event(EventType.CHAT_TYPING, ["sales"]))


def test_queues_intersect_the_events_audience():
    s = sub(["*"], ["billing"])
    assert not covers(s, event(EventType.CREATED, ["sales"]))
    # A transfer from sales to billing concerns both queues.
    assert covers(s, event(EventType.TRANSFERRED, ["sales", "billing"]))
    assert covers(sub(["*"]), event(EventType.CREATED, ["anything"])), "no queues: every queue"


def test_webhook_id_is_stable_per_subscription_and_event():
    assert message_id("s1", "42") == message_id("s1", "42") == "msg_s1_42"
    assert message_id("s2", "42") != message_id("s1", "42")


def test_secrets_are_standard_webhooks_secrets():
    from standardwebhooks import Webhook

    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b
    Webhook(a)  # parses


# -- outcomes ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status):
    assert classify(status) is Outcome.DELIVERED


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504, 599])
def test_no_answer_408_429_and_5xx_are_retried(status):
    assert classify(status) is Outcome.RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 301, 302, 307])
def test_other_answers_fail_the_event(status):
    assert classify(status) is Outcome.FAILED


# -- the retry schedule --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_first_retry_within_10_seconds(seed):
    assert 0 < RetrySchedule().next_delay(1, Random(seed)) <= 10


def test_delays_grow_and_are_jittered():
    s = RetrySchedule()
    lows = [s.next_delay(n, _Fixed(0.0)) for n in range(1, 8)]
    assert lows == sorted(lows) and lows[-1] > lows[0]
    assert len({s.next_delay(3, Random(seed)) for seed in range(10)}) > 1, "jitter spreads receivers' retries"


def test_the_schedule_keeps_retrying_for_at_least_24_hours():
    s, rng = RetrySchedule(), Random(1)
    now, attempt = T0, 1
    while (delay := s.next_attempt(T0, attempt, now, rng)) is not None:
        now += timedelta(seconds=delay)
        attempt += 1
    assert now - T0 >= timedelta(hours=24)
    assert now - T0 <= timedelta(hours=26), "and gives up not long after"
    assert 10 < attempt < 100


def test_the_scale_shrinks_every_delay_and_the_window():
    fast = RetrySchedule(scale=0.01)
    assert fast.next_delay(1, _Fixed(0.99)) == pytest.approx(0.01 * RetrySchedule().next_delay(1, _Fixed(0.99)))
    assert not fast.gives_up(T0, T0 + timedelta(seconds=863))
    assert fast.gives_up(T0, T0 + timedelta(seconds=864))


def test_a_paused_subscription_says_which_event_and_why():
    d = Delivery(
        id="3",
        webhook_id="msg_s1_9",
        subscription_id="s1",
        event_id="9",
        type="interaction.created",
        status=DeliveryStatus.RETRYING,
        attempts=31,
        created_at=T0,
    )
    reason = pause_reason(d, 503, None)
    assert "9" in reason and "HTTP 503" in reason and "resume" in reason
    assert "connection refused" in pause_reason(d, None, "connection refused")


class _Fixed(Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value
