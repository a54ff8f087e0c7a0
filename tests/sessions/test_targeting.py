"""Routing to people who can answer, and routing again when tags change.

A user-targeted decision rings only someone who can take the interaction now (console connected,
available, free capacity on its channel, taking routed work); the others are skipped, named in the
feed, and it goes where routing sends it without them.  Changing the tags of an interaction still
waiting (open or ringing) routes it again: another queue that now takes it gets it, the ringing offer
is withdrawn, and the feed says why.
"""

from __future__ import annotations

from sessions.availability import PresenceStatus
from sessions.model import CommType, Customer, Status, Subtype
from sessions.routing import Condition, RoutingConfig, TagStep, Workflow
from tests.conftest import World
from tests.sessions.test_dispatch import online, waiting


async def expert(world: World, **update):
    """Carol (billing) is the best match for "disputes"."""
    carol = world.carol.model_copy(update={"tags": {"disputes": 4}, **update})
    await world.sessions.store.put_user(carol)
    return carol


async def disputed_call(world: World):
    return (
        await world.sessions.route_inbound(
            type=CommType.CALL, subtype=Subtype.PHONE, tags=["disputes"], queue_hint="sales"
        )
    ).interaction


class TestUserTargets:
    async def test_a_user_without_a_console_is_skipped_not_rung(self, world: World):
        await expert(world)
        ix = await disputed_call(world)
        assert (ix.status, ix.offered_to) == (Status.OPEN, None)
        assert ix.queue_id == "sales", "nothing else matches: the queue the contact came in on"
        routed = next(a for a in ix.activity if a.kind == "routed")
        assert routed.data["skipped"] == {"user:u-carol": "no console connected"}
        assert "skipped u-carol (no console connected)" in routed.detail

    async def test_a_connected_available_user_is_rung(self, world: World):
        await expert(world)
        await online(world, world.carol)
        ix = await disputed_call(world)
        assert (ix.queue_id, ix.status, ix.offered_to) == ("billing", Status.PENDING, "u-carol")
        assert "skipped" not in next(a for a in ix.activity if a.kind == "routed").data

    async def test_away_or_full_users_are_skipped_too(self, world: World):
        carol = await expert(world)
        await online(world, carol)
        await world.sessions.set_presence(carol, PresenceStatus.AWAY)
        ix = await disputed_call(world)
        assert ix.offered_to is None and ix.activity[1].data["skipped"] == {"user:u-carol": "away"}
        await world.sessions.set_presence(carol, PresenceStatus.AVAILABLE)
        await world.sessions.claim(carol, (await waiting(world, queue="billing"))[0])
        ix = await disputed_call(world)
        assert ix.offered_to is None and ix.activity[1].data["skipped"] == {"user:u-carol": "at capacity for call"}

    async def test_the_next_best_user_who_can_answer_gets_it(self, world: World):
        await expert(world)
        await world.sessions.store.put_user(world.bob.model_copy(update={"tags": {"disputes": 1}}))
        await online(world, world.bob)
        ix = await disputed_call(world)
        assert (ix.status, ix.offered_to) == (Status.PENDING, "u-bob")

    async def test_supervisors_are_targeted_only_if_they_take_routed_work(self, world: World):
        sup = world.supervisor.model_copy(update={"tags": {"disputes": 9}})
        await world.sessions.store.put_user(sup)
        await online(world, sup)
        ix = await disputed_call(world)
        assert ix.offered_to is None and ix.activity[1].data["skipped"] == {"user:u-sup": "does not take routed work"}
        await world.sessions.store.put_user(sup.model_copy(update={"routable": True}))
        assert (await disputed_call(world)).offered_to == "u-sup"


class TestRerouteOnTags:
    async def _billing_takes(self, world: World, weight: float = 3) -> None:
        await world.sessions.configure_queue(world.admin, "billing", {"tags": {"billing": weight}})

    async def test_open_interaction_moves_to_the_queue_its_new_tags_match(self, world: World):
        await self._billing_takes(world)
        [ix_id] = await waiting(world)
        cursor = await world.sessions.store.last_cursor()
        ix = (await world.sessions.edit(world.supervisor, ix_id, {"tags": ["billing"]})).interaction
        assert (ix.queue_id, ix.status, ix.tags) == ("billing", Status.OPEN, ["billing"])
        moved = ix.activity[-1]
        assert (moved.kind, moved.by) == ("transferred", "system")
        assert moved.data["target"] == {"kind": "queue", "id": "billing"} and moved.data["from_queue"] == "sales"
        assert moved.data["reason"] == "tags_changed" and moved.data["routing"]["scores"]["queue:billing"] == 3.0
        assert "tags changed" in moved.detail and "best match (score 3)" in moved.detail
        events = (await world.sessions.store.events_since(cursor)).events
        assert [e.type for e in events] == ["interaction.edited", "interaction.transferred"]
        assert set(events[-1].queues) == {"sales", "billing"}

    async def test_a_ringing_offer_is_withdrawn(self, world: World):
        await self._billing_takes(world)
        await online(world, world.alice)
        [ix_id] = await waiting(world)
        await world.sessions.dispatch("node-1")
        cursor = await world.sessions.store.last_cursor()
        ix = (await world.sessions.edit(world.alice, ix_id, {"tags": ["billing"]})).interaction
        assert (ix.queue_id, ix.status, ix.offered_to, ix.offer_expires_at) == ("billing", Status.OPEN, None, None)
        assert "offer to u-alice withdrawn" in ix.activity[-1].detail
        moved = (await world.sessions.store.events_since(cursor)).events[-1]
        assert "u-alice" in moved.users, "the console it rang on is told"

    async def test_a_claimed_interaction_stays_with_its_agent(self, world: World):
        await self._billing_takes(world)
        [ix_id] = await waiting(world)
        await world.sessions.claim(world.alice, ix_id)
        ix = (await world.sessions.edit(world.alice, ix_id, {"tags": ["billing"]})).interaction
        assert (ix.queue_id, ix.status, ix.activity[-1].kind) == ("sales", Status.CLAIMED, "edited")

    async def test_tags_that_fit_the_current_queue_as_well_move_nothing(self, world: World):
        await self._billing_takes(world, 2)
        await world.sessions.configure_queue(world.admin, "sales", {"tags": {"sales": 2}})
        [ix_id] = await waiting(world)
        ix = (await world.sessions.edit(world.alice, ix_id, {"tags": ["sales", "billing"]})).interaction
        assert (ix.queue_id, ix.activity[-1].kind) == ("sales", "edited"), "a tie keeps it where it is"
        ix = (await world.sessions.edit(world.alice, ix_id, {"tags": ["unknown"]})).interaction
        assert (ix.queue_id, ix.activity[-1].kind) == ("sales", "edited"), (
            "nothing matching: it stays, not sent to the default queue"
        )

    async def test_workflows_do_not_undo_what_a_person_set(self, world: World):
        """Workflows tag from arrival facts; re-routing scores the tags as the person left them."""
        await self._billing_takes(world)
        await world.sessions.set_routing_config(
            world.admin,
            RoutingConfig(
                default_queue="sales",
                workflows=[
                    Workflow(
                        id="inv",
                        name="Invoices",
                        steps=[TagStep(when=Condition(keywords=["invoice"]), add=["billing"])],
                    )
                ],
            ),
        )
        ix = (
            await world.sessions.route_inbound(
                type=CommType.MESSAGING,
                subtype=Subtype.TEXT,
                customer=Customer(phone="+14155550100"),
                first_message="my invoice",
            )
        ).interaction
        assert ix.queue_id == "billing"
        ix = (await world.sessions.edit(world.supervisor, ix.id, {"tags": ["sales-lead"]})).interaction
        assert (ix.queue_id, ix.tags) == ("billing", ["sales-lead"])
