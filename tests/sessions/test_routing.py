"""Tag routing: workflows modify tags, weighted scores pick the target, the feed says why."""

from __future__ import annotations

import json

import pytest

from sessions.errors import NotFound, Unrouted
from sessions.inbound import APOLOGY
from sessions.model import CommType, Customer, Role, Status, Subtype, User
from sessions.queues import Queue
from sessions.routing import Arrival, Condition, RoutingConfig, TagStep, Workflow, apply_workflows, decide
from tests.conftest import World

SALES = Queue(id="sales", name="Sales", tags={"sales": 2, "spanish": 1})
SUPPORT = Queue(id="support", name="Support", tags={"support": 2})
VIP = Queue(id="vip", name="VIP", tags={"support": 1}, required_tags=["vip"])
GENERAL = Queue(id="general", name="General")


def arrival(**kw) -> Arrival:
    return Arrival(**{"type": CommType.MESSAGING, "subtype": Subtype.TEXT, **kw})


def config(*steps: TagStep, default: str | None = "general") -> RoutingConfig:
    return RoutingConfig(workflows=[Workflow(id="wf", name="Tagging", steps=list(steps))], default_queue=default)


class TestWorkflows:
    @pytest.mark.parametrize(
        ("condition", "fires"),
        [
            (Condition(types=[CommType.MESSAGING]), True),
            (Condition(types=[CommType.CALL]), False),
            (Condition(subtypes=[Subtype.TEXT]), True),
            (Condition(to=["+15550001"]), True),
            (Condition(to=["+15550002"]), False),
            (Condition(keywords=["refund"]), True),
            (Condition(keywords=["money back"]), True),
            (Condition(keywords=["refunds"]), False),
            (Condition(attributes={"tier": "gold"}), True),
            (Condition(attributes={"tier": "silver"}), False),
            (Condition(types=[CommType.MESSAGING], keywords=["nothing-like-this"]), False),
        ],
    )
    def test_each_criterion(self, condition: Condition, fires: bool):
        a = arrival(
            to_address="+15550001", first_message="I want my MONEY back, a refund!", attributes={"tier": "gold"}
        )
        tags, fired = apply_workflows(config(TagStep(when=condition, add=["hit"])), a)
        assert ("hit" in tags) is fires and bool(fired) is fires

    def test_steps_apply_in_order_adding_and_removing(self):
        cfg = config(
            TagStep(add=["sales", "spanish"]),
            TagStep(when=Condition(keywords=["broken"]), add=["support"], remove=["sales"]),
        )
        tags, fired = apply_workflows(cfg, arrival(first_message="it is broken", tags=("web",)))
        assert tags == ["web", "spanish", "support"] and len(fired) == 2

    def test_disabled_workflows_do_nothing(self):
        cfg = RoutingConfig(workflows=[Workflow(id="off", name="Off", enabled=False, steps=[TagStep(add=["x"])])])
        assert apply_workflows(cfg, arrival())[0] == []


class TestDecide:
    def test_highest_weighted_score_wins(self):
        d = decide(arrival(tags=("sales", "spanish", "support")), RoutingConfig(), [SALES, SUPPORT], [], {})
        assert (d.kind, d.target, d.scores["queue:sales"], d.scores["queue:support"]) == ("queue", "sales", 3.0, 2.0)

    def test_required_tags_gate_and_rank_first(self):
        d = decide(arrival(tags=("support", "vip")), RoutingConfig(), [SUPPORT, VIP], [], {})
        assert d.target == "vip", "a queue whose required tags are met ranks before a higher score"
        d = decide(arrival(tags=("support",)), RoutingConfig(), [SUPPORT, VIP], [], {})
        assert d.target == "support" and "queue:vip" not in d.scores

    def test_ties_go_to_the_least_recently_routed(self):
        twin = Queue(id="sales2", name="Sales 2", tags={"sales": 2, "spanish": 1})
        recent = {"queue:sales": 200.0, "queue:sales2": 100.0}
        assert decide(arrival(tags=("sales",)), RoutingConfig(), [SALES, twin], [], recent).target == "sales2"
        assert (
            decide(arrival(tags=("sales",)), RoutingConfig(), [SALES, twin], [], {"queue:sales2": 300.0}).target
            == "sales"
        )

    def test_a_user_can_be_the_best_match(self):
        expert = User(id="eve", username="eve", name="Eve", queues=["support"], tags={"billing-expert": 5})
        d = decide(arrival(tags=("billing-expert", "support")), RoutingConfig(), [SUPPORT], [expert], {})
        assert (d.kind, d.target, d.queue_id) == ("user", "eve", "support")

    def test_unmatched_goes_to_the_channel_hint_then_the_default_queue(self):
        assert decide(arrival(), config(), [SALES, GENERAL], [], {}).target == "general"
        assert decide(arrival(), config(), [SALES, GENERAL], [], {}, fallback_queue="sales").reason.startswith(
            "no match"
        )
        assert decide(arrival(), config(), [SALES, GENERAL], [], {}, fallback_queue="sales").target == "sales"


class TestRouteInbound:
    async def test_routing_decision_is_in_the_feed_with_rule_and_scores(self, world: World):
        s = world.sessions
        await s.configure_queue(world.admin, "billing", {"tags": {"billing": 3}})
        await s.set_routing_config(
            world.admin,
            RoutingConfig(
                default_queue="sales",
                workflows=[
                    Workflow(
                        id="invoices",
                        name="Invoices",
                        steps=[TagStep(when=Condition(keywords=["invoice"]), add=["billing"])],
                    )
                ],
            ),
        )
        ix = (
            await s.route_inbound(
                type=CommType.MESSAGING,
                subtype=Subtype.TEXT,
                customer=Customer(phone="+14155550100"),
                to_address="+15550001",
                first_message="Where is my invoice?",
            )
        ).interaction
        assert (ix.queue_id, ix.tags, ix.to_address) == ("billing", ["billing"], "+15550001")
        routed = next(a for a in ix.activity if a.kind == "routed")
        assert routed.data["target"] == "queue:billing" and routed.data["scores"]["queue:billing"] == 3.0
        assert routed.data["steps"] == ["invoices#1: add billing"]
        other = (await s.route_inbound(type=CommType.CALL, subtype=Subtype.PHONE)).interaction
        assert other.queue_id == "sales" and "default queue" in other.activity[-1].detail

    async def test_routed_to_a_user_is_offered_to_them(self, world: World):
        s = world.sessions
        await s.store.put_user(world.carol.model_copy(update={"tags": {"disputes": 4}}))
        await s.connected(
            world.carol.id, "node-1", ttl=3600
        )  # a console that can ring (test_targeting: who is skipped)
        ix = (
            await s.route_inbound(type=CommType.CALL, subtype=Subtype.PHONE, tags=["disputes"], queue_hint="sales")
        ).interaction
        assert (ix.queue_id, ix.status, ix.offered_to) == ("billing", Status.PENDING, "u-carol")

    async def test_no_match_and_no_default_is_polite_to_the_customer_and_clear_to_operators(self, world, caplog):
        with caplog.at_level("WARNING", logger="sessions.inbound"), pytest.raises(Unrouted) as refused:
            await world.sessions.route_inbound(type=CommType.MESSAGING, subtype=Subtype.CHAT)
        assert refused.value.message == APOLOGY and "default queue" not in refused.value.message
        assert "no default queue is configured" in refused.value.reason
        assert "no default queue is configured" in caplog.text and "messaging/chat" in caplog.text
        alert = json.loads(await world.sessions.store.map_get("alerts", "unrouted"))
        assert alert["contact"] == "messaging/chat" and alert["reason"] == refused.value.reason

    async def test_admins_alone_configure_routing(self, world: World):
        from sessions.errors import PermissionDenied

        with pytest.raises(PermissionDenied):
            await world.sessions.set_routing_config(world.supervisor, RoutingConfig())
        with pytest.raises(NotFound):
            await world.sessions.set_routing_config(world.admin, RoutingConfig(default_queue="ghost"))
        assert world.supervisor.role is Role.SUPERVISOR
