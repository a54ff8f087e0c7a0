"""Rights per role: the defaults, an admin's merge patch, and the refusal that names the missing right."""

from __future__ import annotations

import pytest

from sessions import Sessions
from sessions.errors import IllegalTransition, InvalidCommand, PermissionDenied
from sessions.model import (
    CommType,
    Customer,
    Direction,
    Outcome,
    Recording,
    Role,
    Subtype,
    TargetKind,
    TransferMode,
    TransferTarget,
    User,
)
from sessions.permissions import DEFAULTS, Permissions, Right, overrides_from_patch, require, transfer_right
from tests.conftest import World
from tests.seen import events_seen_by

AGENT = User(id="a", username="a", name="Alice", queues=["sales"])
SUPERVISOR = User(id="s", username="s", name="Sam", role=Role.SUPERVISOR, queues=["sales"])
ADMIN = User(id="ad", username="ad", name="Ada", role=Role.ADMIN)


class TestRules:
    def test_agents_keep_what_they_could_do_before_rights_and_only_supervisors_evaluate_by_default(self):
        defaults = Permissions.from_overrides({})
        assert {r for r in Right if defaults.has(Role.AGENT, r)} == set(Right) - {Right.EVALUATE}
        assert all(defaults.has(Role.SUPERVISOR, r) and defaults.has(Role.ADMIN, r) for r in Right)
        assert DEFAULTS[Role.AGENT] == frozenset(Right) - {Right.EVALUATE}

    def test_a_refusal_names_the_action_the_right_and_the_role(self):
        withdrawn = Permissions.from_overrides({"agent:clone_completed": "false"})
        with pytest.raises(PermissionDenied) as refused:
            require(AGENT, Right.CLONE_COMPLETED, withdrawn)
        assert (
            refused.value.message
            == "Cloning completed interactions needs the right clone_completed, which role agent does not have."
        )
        require(SUPERVISOR, Right.CLONE_COMPLETED, withdrawn)  # only the agent role lost it
        require(None, Right.CLONE_COMPLETED, withdrawn)  # the system (timers, providers) is not a role

    def test_admins_have_every_right_whatever_is_stored(self):
        stored = {f"admin:{r.value}": "false" for r in Right}
        assert all(Permissions.from_overrides(stored).has(Role.ADMIN, r) for r in Right)
        with pytest.raises(InvalidCommand, match="Admins always have every right"):
            overrides_from_patch({"admin": {"listen_recordings": False}})
        assert overrides_from_patch({"admin": {"listen_recordings": True}}) == ({}, [])

    def test_overrides_grant_and_withdraw_and_unknown_stored_keys_are_ignored(self):
        p = Permissions.from_overrides(
            {
                "agent:evaluate": "true",
                "supervisor:transfer_external": "false",
                "agent:fly": "false",
                "guest:evaluate": "true",
            }
        )
        assert p.has(Role.AGENT, Right.EVALUATE) and not p.has(Role.SUPERVISOR, Right.TRANSFER_EXTERNAL)
        assert p.of(AGENT) == {r.value: True for r in Right}
        assert p.table()["supervisor"]["transfer_external"] is False and set(p.table()) == {
            "agent",
            "supervisor",
            "admin",
        }

    def test_a_patch_names_exactly_the_keys_it_changes_and_null_restores_the_default(self):
        assert overrides_from_patch(
            {"agent": {"clone_completed": False, "evaluate": True, "edit_completed": None}}
        ) == ({"agent:clone_completed": "false", "agent:evaluate": "true"}, ["agent:edit_completed"])
        _, reset = overrides_from_patch({"supervisor": None})
        assert sorted(reset) == sorted(f"supervisor:{r.value}" for r in Right)

    @pytest.mark.parametrize(
        "patch, why",
        [
            ({"guest": {"evaluate": True}}, "Unknown role"),
            ({"agent": {"fly": True}}, "Unknown right"),
            ({"agent": {"evaluate": "yes"}}, "must be true, false or null"),
            ({"agent": {"evaluate": 1}}, "must be true, false or null"),
            ({"agent": ["evaluate"]}, "must be an object"),
            (["agent"], "Send an object"),
        ],
    )
    def test_bad_patches_are_refused_whole(self, patch, why):
        with pytest.raises(InvalidCommand, match=why):
            overrides_from_patch(patch)

    def test_only_transfers_that_leave_the_queue_need_a_right(self):
        ix = type("Ix", (), {"queue_id": "sales"})()
        assert transfer_right(ix, TransferTarget(kind=TargetKind.USER, id="bob")) is None
        assert transfer_right(ix, TransferTarget(kind=TargetKind.QUEUE, id="sales")) is None
        assert transfer_right(ix, TransferTarget(kind=TargetKind.QUEUE, id="billing")) is Right.TRANSFER_TO_QUEUE
        assert (
            transfer_right(ix, TransferTarget(kind=TargetKind.EXTERNAL, id="+14155550199")) is Right.TRANSFER_EXTERNAL
        )


async def claimed(world: World, by: User) -> str:
    ev = await world.sessions.create(
        None,
        queue_id="sales",
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        customer=Customer(phone="+14155550100"),
    )
    await world.sessions.claim(by, ev.interaction.id)
    return ev.interaction.id


async def completed(world: World, by: User) -> str:
    ix_id = await claimed(world, by)
    await world.sessions.end(by, ix_id, Outcome.RESOLVED)
    await world.sessions.complete(by, ix_id)
    return ix_id


async def withdraw(world: World, right: Right, role: str = "agent") -> None:
    await world.sessions.change_permissions(world.admin, {role: {right.value: False}})


async def refused(right: Right, command) -> None:
    with pytest.raises(PermissionDenied, match=f"needs the right {right.value}, which role agent does not have"):
        await command


class TestEnforcement:
    """Each command checks its right where it enters the core, on both stores."""

    async def test_clone_and_edit_of_completed_ones(self, world: World):
        s, alice = world.sessions, world.alice
        await s.configure_queue(
            world.admin, "sales", {"settings": {"phone_number": "+15550001000"}}
        )  # a follow-up call comes from it
        done = await completed(world, alice)
        await s.edit(alice, done, {"subject": "allowed by default"})
        await withdraw(world, Right.CLONE_COMPLETED)
        await withdraw(world, Right.EDIT_COMPLETED)
        await refused(Right.CLONE_COMPLETED, s.clone(alice, done))
        await refused(Right.EDIT_COMPLETED, s.edit(alice, done, {"subject": "now refused"}))
        assert (await s.store.get_interaction(done)).subject == "allowed by default", "a refusal changes nothing"
        active = await claimed(world, alice)
        await s.edit(alice, active, {"subject": "an active one needs no right"})
        await s.clone(world.supervisor, done)  # the supervisor role keeps both
        await s.change_permissions(world.admin, {"agent": {"clone_completed": True, "edit_completed": None}})
        assert (await s.clone(alice, done)).interaction.parent_id == done
        await s.edit(alice, done, {"subject": "allowed again"})

    async def test_an_outsider_hears_about_membership_not_rights(self, world: World):
        done = await completed(world, world.alice)
        await withdraw(world, Right.CLONE_COMPLETED)
        with pytest.raises(PermissionDenied, match="not a member of queue sales"):
            await world.sessions.clone(world.carol, done)

    async def test_transfers_out_of_the_queue(self, world: World):
        s, alice = world.sessions, world.alice
        await withdraw(world, Right.TRANSFER_TO_QUEUE)
        await withdraw(world, Right.TRANSFER_EXTERNAL)
        ix = await claimed(world, alice)
        await refused(
            Right.TRANSFER_TO_QUEUE, s.transfer(alice, ix, TransferTarget(kind=TargetKind.QUEUE, id="billing"))
        )
        await refused(
            Right.TRANSFER_EXTERNAL,
            s.transfer(alice, ix, TransferTarget(kind=TargetKind.EXTERNAL, id="+14155550199"), TransferMode.WARM),
        )
        assert (await s.store.get_interaction(ix)).consult is None
        moved = await s.transfer(
            alice, ix, TransferTarget(kind=TargetKind.USER, id=world.bob.id)
        )  # within the queue: no right needed
        assert moved.interaction.offered_to == world.bob.id

    async def test_completing_a_consult_checks_the_right_again(self, world: World):
        s, alice = world.sessions, world.alice
        ix = await claimed(world, alice)
        await s.transfer(alice, ix, TransferTarget(kind=TargetKind.QUEUE, id="billing"), TransferMode.WARM)
        await withdraw(world, Right.TRANSFER_TO_QUEUE)
        await refused(Right.TRANSFER_TO_QUEUE, s.complete_consult(alice, ix))
        await s.cancel_consult(alice, ix)  # the way back stays open

    async def test_outbound_creation_by_a_user_but_never_inbound_contacts(self, world: World):
        s = world.sessions
        await withdraw(world, Right.CREATE_OUTBOUND)
        await refused(
            Right.CREATE_OUTBOUND,
            s.create(
                world.alice,
                queue_id="sales",
                direction=Direction.OUTBOUND,
                type=CommType.MESSAGING,
                subtype=Subtype.TEXT,
            ),
        )
        await s.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
        await s.create(
            world.supervisor,
            queue_id="sales",
            direction=Direction.OUTBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.TEXT,
        )

    async def test_listening_to_recordings(self, world: World):
        s, alice = world.sessions, world.alice
        ix = await claimed(world, alice)
        await s.attach_recording(
            ix, Recording(id="RE1", at=world.clock.now(), status="stored", uri=f"/api/interactions/{ix}/recordings/RE1")
        )
        assert (await s.recording_for(alice, ix, "RE1")).id == "RE1"
        await s.attach_recording(ix, Recording(id="RE2", at=world.clock.now(), status="pending"))
        with pytest.raises(IllegalTransition, match="still being downloaded"):
            await s.recording_for(alice, ix, "RE2")
        await withdraw(world, Right.LISTEN_RECORDINGS)
        await refused(Right.LISTEN_RECORDINGS, s.recording_for(alice, ix, "RE1"))

    async def test_evaluate_is_a_check_other_features_call(self, world: World):
        await world.sessions.require_right(world.supervisor, Right.EVALUATE)
        await refused(Right.EVALUATE, world.sessions.require_right(world.alice, Right.EVALUATE))


class TestAdministration:
    async def test_only_admins_change_rights_and_a_bad_patch_changes_nothing(self, world: World):
        s = world.sessions
        with pytest.raises(PermissionDenied, match="Only admins change rights"):
            await s.change_permissions(world.supervisor, {"agent": {"clone_completed": False}})
        with pytest.raises(InvalidCommand):
            await s.change_permissions(world.admin, {"agent": {"clone_completed": False, "fly": True}})
        assert (await s.permissions()) == Permissions.from_overrides({})

    async def test_a_change_applies_at_once_to_another_process_on_the_same_store(self, world: World):
        other = Sessions(
            world.sessions.store, world.clock
        )  # a second process: its own service, the same store of record
        await other.require_right(world.alice, Right.CLONE_COMPLETED)
        await withdraw(world, Right.CLONE_COMPLETED)
        await refused(Right.CLONE_COMPLETED, other.require_right(world.alice, Right.CLONE_COMPLETED))

    async def test_a_change_is_logged_for_admins_only(self, world: World):
        await world.sessions.change_permissions(world.admin, {"agent": {"evaluate": True}})
        page = await events_seen_by(world.sessions, world.admin, None)
        change = [e for e in page.events if e.type == "permissions.changed"]
        assert [e.data for e in change] == [{"by": world.admin.id, "set": {"agent:evaluate": "true"}, "reset": []}]
        assert not [
            e
            for e in (await events_seen_by(world.sessions, world.alice, None)).events
            if e.type == "permissions.changed"
        ]
