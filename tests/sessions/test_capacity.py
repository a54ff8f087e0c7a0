"""Capacity and who takes routed work: a manual claim respects capacity unless a supervisor overrides,
and only users who opted in (agents by default, supervisors and admins when they choose) get offers."""

from __future__ import annotations

import pytest

from sessions.errors import IllegalTransition, PermissionDenied
from sessions.model import Channel, CommType, Role, Status, Subtype, User
from tests.conftest import World
from tests.sessions.test_dispatch import offered, online, waiting


class TestManualClaim:
    async def test_an_agent_at_capacity_cannot_claim_another(self, world: World):
        first, second = await waiting(world, 2)
        await world.sessions.claim(world.alice, first)
        with pytest.raises(IllegalTransition, match="Alice is at capacity for call \\(1 of 1\\)"):
            await world.sessions.claim(world.alice, second)
        assert (await world.sessions.store.get_interaction(second)).status is Status.OPEN

    async def test_offers_count_toward_capacity(self, world: World):
        await world.sessions.store.put_user(world.alice.model_copy(update={"capacity": {Channel.CHAT: 1}}))
        alice = await world.sessions.store.get_user(world.alice.id)
        offered_chat, open_chat = await waiting(world, 2, type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        await world.sessions.offer(offered_chat, alice.id)
        with pytest.raises(IllegalTransition, match="at capacity for chat"):
            await world.sessions.claim(alice, open_chat)

    async def test_other_channels_are_not_affected(self, world: World):
        [call] = await waiting(world)
        [chat] = await waiting(world, type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        await world.sessions.claim(world.alice, call)
        assert (await world.sessions.claim(world.alice, chat)).interaction.assigned_to == "u-alice"

    async def test_accepting_an_offer_is_never_refused(self, world: World):
        """The offer was made within capacity (or on purpose over it): the one it rings for may take it."""
        first, second = await waiting(world, 2)
        await world.sessions.claim(world.alice, first)
        await world.sessions.offer(second, world.alice.id)  # e.g. a transfer to her
        claimed = (await world.sessions.claim(world.alice, second)).interaction
        assert (claimed.status, claimed.assigned_to) == (Status.CLAIMED, "u-alice")

    async def test_a_supervisor_overrides_explicitly_and_the_feed_says_so(self, world: World):
        first, second = await waiting(world, 2)
        await world.sessions.claim(world.supervisor, first)
        with pytest.raises(IllegalTransition, match="at capacity"):
            await world.sessions.claim(world.supervisor, second)
        ix = (await world.sessions.claim(world.supervisor, second, override=True)).interaction
        assert (ix.status, ix.assigned_to) == (Status.CLAIMED, "u-sup")
        entry = ix.activity[-1]
        assert entry.kind == "claimed" and entry.data["over_capacity"] == {"channel": "call", "load": 1, "capacity": 1}
        assert "over capacity" in entry.detail

    async def test_an_agent_cannot_override(self, world: World):
        first, second = await waiting(world, 2)
        await world.sessions.claim(world.alice, first)
        with pytest.raises(PermissionDenied, match="Only supervisors and admins"):
            await world.sessions.claim(world.alice, second, override=True)

    async def test_override_within_capacity_is_an_ordinary_claim(self, world: World):
        [ix] = await waiting(world)
        claimed = (await world.sessions.claim(world.supervisor, ix, override=True)).interaction
        assert claimed.assigned_to == "u-sup" and "over_capacity" not in claimed.activity[-1].data


class TestWhoTakesRoutedWork:
    def test_agents_take_work_by_default_supervisors_and_admins_do_not(self):
        assert User(id="a", username="a", name="A").routable is True
        assert User(id="s", username="s", name="S", role=Role.SUPERVISOR).routable is False
        assert User(id="d", username="d", name="D", role=Role.ADMIN).routable is False
        assert User(id="s", username="s", name="S", role=Role.SUPERVISOR, routable=True).routable is True
        assert User(id="a", username="a", name="A", routable=False).routable is False

    async def test_a_connected_supervisor_gets_no_offers_unless_opted_in(self, world: World):
        await online(world, world.supervisor)
        [ix] = await waiting(world)
        assert await world.sessions.dispatch("node-1") == []
        assert await world.sessions.available_in("sales") == 0, (
            "the queue's figures do not count the supervisor as available"
        )
        sam = await world.sessions.save_user(world.admin, world.supervisor.model_copy(update={"routable": True}))
        assert await world.sessions.available_in("sales") == 1
        await world.sessions.dispatch("node-1")
        assert await offered(world, ix) == sam.id

    async def test_an_admin_who_opts_in_gets_offers(self, world: World):
        admin = await world.sessions.save_user(
            world.admin, world.admin.model_copy(update={"routable": True, "queues": ["sales"]})
        )
        await online(world, admin)
        [ix] = await waiting(world)
        await world.sessions.dispatch("node-1")
        assert await offered(world, ix) == admin.id

    async def test_an_agent_who_opts_out_gets_none(self, world: World):
        await world.sessions.save_user(world.admin, world.alice.model_copy(update={"routable": False}))
        await online(world, world.alice)
        await waiting(world)
        assert await world.sessions.dispatch("node-1") == []
        assert await world.sessions.available_in("sales") == 0

    async def test_stored_users_without_the_field_get_their_roles_default(self, world: World):
        """Accounts saved before the opt-in existed read back with their role's default."""
        raw = world.supervisor.model_dump(mode="json")
        raw.pop("routable", None)
        assert User.model_validate(raw).routable is False
