"""The service side of rights: reading and changing them, and the check commands call.

Kept in the store of record's ``permissions`` map (one key per overridden role and right), read
afresh by every check: one indexed read, so a change an admin makes in one process applies to
the very next request in every process, with no cache to invalidate.  ``Sessions`` inherits it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import machine
from .clock import Clock
from .errors import IllegalTransition, NotFound
from .events import Change, Event, EventType
from .model import Interaction, Recording, Role, User
from .permissions import ACTIONS, Permissions, Right, overrides_from_patch, require, require_admin
from .stores.base import Store

#: The map that holds the overrides.
MAP = "permissions"


class Rights:
    store: Store
    clock: Clock

    async def permissions(self) -> Permissions:
        return Permissions.from_overrides(await self.store.map_all(MAP))

    async def require_right(self, actor: User | None, right: Right) -> Permissions:
        """Refuses (403 naming the right) unless the actor's role has ``right``;
        returns the rights read, for further checks."""
        permissions = await self.permissions()
        require(actor, right, permissions)
        return permissions

    async def with_right(
        self, actor: User, needs: Callable[[Interaction], Right | None], decide: Callable[..., Change]
    ) -> Callable[..., Change]:
        """``decide`` guarded by the right ``needs`` names for the interaction as it is when the command applies.

        Membership first (a 403 that says nothing about the interaction), then the right, then
        whatever ``decide`` checks; judged on the current version, so an edit racing a completion
        is held to the completed interaction's rule.
        """
        permissions = await self.permissions()

        def step(ix: Interaction, *rest: Any) -> Change:
            machine.require_access(ix, actor)
            right = needs(ix)
            if right is not None:
                require(actor, right, permissions)
            return decide(ix, *rest)

        return step

    async def recording_for(self, actor: User, interaction_id: str, recording_id: str) -> Recording:
        """A stored recording the actor may listen to: membership, then the right, then whether it is there yet."""
        ix = await self.store.get_interaction(interaction_id)
        machine.require_access(ix, actor)
        await self.require_right(actor, Right.LISTEN_RECORDINGS)
        rec = next((r for r in ix.recordings if r.id == recording_id), None)
        if rec is None:
            raise NotFound(f"Interaction {ix.id} has no recording {recording_id}.")
        if rec.status != "stored":
            raise IllegalTransition(
                f"Recording {rec.id} is still being downloaded from the provider; try again shortly."
            )
        return rec

    async def read_permissions(self, actor: User) -> dict[str, Any]:
        """Every role's rights, and the caller's own: any signed-in user, so a console hides what its user cannot do."""
        permissions = await self.permissions()
        return {
            "roles": permissions.table(),
            "mine": permissions.of(actor),
            "rights": {r.value: ACTIONS[r] for r in Right},
        }

    async def change_permissions(self, actor: User, patch: Any) -> dict[str, Any]:
        """Applies an admin's JSON Merge Patch ``{role: {right: true | false | null}}``; null restores the default."""
        require_admin(actor, "change rights")
        to_set, to_reset = overrides_from_patch(patch)
        for key, value in to_set.items():
            await self.store.map_set(MAP, key, value)
        await self.store.map_delete(MAP, *to_reset)
        if to_set or to_reset:
            await self.store.publish(
                Event(
                    type=EventType.PERMISSIONS_CHANGED,
                    at=self.clock.now(),
                    roles=[Role.ADMIN.value],
                    data={"by": actor.id, "set": to_set, "reset": to_reset},
                )
            )
        return await self.read_permissions(actor)
