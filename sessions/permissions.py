"""Rights per role: what, beyond queue membership, a user may do.

Membership says *which* interactions someone may touch; rights say *what* they may do with them
that a contact center restricts by role (Flex and Amazon Connect call these permissions or
security profiles): reach customers on the company's behalf, rewrite or reopen the record of a
finished contact, send a contact outside its queue, listen to recordings, evaluate colleagues.

Pure rules: the rights, their defaults, how an admin's JSON Merge Patch (RFC 7396) changes them,
and the check that refuses with the missing right named.  The store keeps only the admins'
overrides, one key per role and right (``"agent:clone_completed" -> "false"``), so a patch writes
exactly the keys it names and two admins changing different rights never overwrite each other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import InvalidCommand, PermissionDenied
from .model import Interaction, Role, TargetKind, TransferTarget, User


class Right(StrEnum):
    """The closed set of rights; a role either has one or not."""

    CREATE_OUTBOUND = "create_outbound"
    EDIT_COMPLETED = "edit_completed"
    CLONE_COMPLETED = "clone_completed"
    TRANSFER_TO_QUEUE = "transfer_to_queue"
    TRANSFER_EXTERNAL = "transfer_external"
    LISTEN_RECORDINGS = "listen_recordings"
    EVALUATE = "evaluate"


#: What each right lets one do, as the start of a sentence ("... needs the right x").
ACTIONS: dict[Right, str] = {
    Right.CREATE_OUTBOUND: "Starting outbound interactions",
    Right.EDIT_COMPLETED: "Editing completed interactions",
    Right.CLONE_COMPLETED: "Cloning completed interactions",
    Right.TRANSFER_TO_QUEUE: "Transferring to another queue",
    Right.TRANSFER_EXTERNAL: "Transferring to an external number",
    Right.LISTEN_RECORDINGS: "Listening to recordings",
    Right.EVALUATE: "Evaluating interactions",
}

#: Out of the box, agents do everything they could before rights existed (reach out, follow up,
#: correct a record, transfer, listen back); evaluating colleagues is a supervisor's job, as in
#: Flex's and Amazon Connect's default agent profiles.  Supervisors have every right.
DEFAULTS: dict[Role, frozenset[Right]] = {
    Role.AGENT: frozenset(Right) - {Right.EVALUATE},
    Role.SUPERVISOR: frozenset(Right),
    Role.ADMIN: frozenset(Right),
}

#: Roles whose rights admins may change; admins always have every right, so nobody locks everyone out.
CONFIGURABLE = (Role.AGENT, Role.SUPERVISOR)


class Permissions(BaseModel):
    """The rights each role has now (defaults with the admins' overrides applied)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: dict[Role, frozenset[Right]]

    @classmethod
    def from_overrides(cls, stored: dict[str, str]) -> Permissions:
        """From the stored overrides; keys naming a role or right this version does not know are ignored."""
        roles = {role: set(rights) for role, rights in DEFAULTS.items()}
        for key, value in stored.items():
            role_name, _, right_name = key.partition(":")
            if role_name not in {r.value for r in CONFIGURABLE} or right_name not in {r.value for r in Right}:
                continue
            (roles[Role(role_name)].add if value == "true" else roles[Role(role_name)].discard)(Right(right_name))
        return cls(roles={role: frozenset(rights) for role, rights in roles.items()})

    def has(self, role: Role, right: Right) -> bool:
        return role is Role.ADMIN or right in self.roles.get(role, frozenset())

    def table(self) -> dict[str, dict[str, bool]]:
        """``{role: {right: bool}}``: the shape a merge patch changes."""
        return {role.value: {right.value: self.has(role, right) for right in Right} for role in Role}

    def of(self, user: User) -> dict[str, bool]:
        return {right.value: self.has(user.role, right) for right in Right}


def require(actor: User | None, right: Right, permissions: Permissions) -> None:
    """Refuses, naming the missing right, unless the actor's role has it.
    No actor means the system (timers, providers)."""
    if actor is None or permissions.has(actor.role, right):
        return
    raise PermissionDenied(
        f"{ACTIONS[right]} needs the right {right.value}, which role {actor.role.value} does not have."
    )


def require_admin(actor: User, does: str) -> None:
    """Refuses anyone but an admin what only admins do (configuration, accounts, rights, webhooks), saying what and
    who asked: the roles' rights cannot grant it."""
    if actor.role is not Role.ADMIN:
        raise PermissionDenied(f"Only admins {does}; {actor.name} is {actor.role.value}.")


def transfer_right(ix: Interaction, target: TransferTarget) -> Right | None:
    """The right a transfer needs: none within the queue (to a person, or back to its own queue)."""
    if target.kind is TargetKind.EXTERNAL:
        return Right.TRANSFER_EXTERNAL
    if target.kind is TargetKind.QUEUE and target.id != ix.queue_id:
        return Right.TRANSFER_TO_QUEUE
    return None


def overrides_from_patch(patch: Any) -> tuple[dict[str, str], list[str]]:
    """A JSON Merge Patch of ``{role: {right: bool}}`` as keys to set and keys to reset to the default (``null``).

    Validates the whole patch before anything is written, so bad input changes nothing.
    """
    if not isinstance(patch, dict):
        raise InvalidCommand('Send an object of roles, e.g. {"agent": {"clone_completed": false}}.')
    rights = {r.value for r in Right}
    to_set: dict[str, str] = {}
    to_reset: list[str] = []
    for role_name, changes in patch.items():
        if role_name not in {r.value for r in Role}:
            raise InvalidCommand(f"Unknown role {str(role_name)[:40]!r}; roles are {', '.join(r.value for r in Role)}.")
        if changes is None:
            to_reset += [f"{role_name}:{right}" for right in sorted(rights)] if role_name != Role.ADMIN else []
            continue
        if not isinstance(changes, dict):
            raise InvalidCommand(f"Rights of role {role_name} must be an object of right names to true, false or null.")
        for right_name, value in changes.items():
            if right_name not in rights:
                raise InvalidCommand(
                    f"Unknown right {str(right_name)[:40]!r}; rights are {', '.join(r.value for r in Right)}."
                )
            if value is not None and not isinstance(value, bool):
                raise InvalidCommand(
                    f"{role_name}.{right_name} must be true, false or null (the default), not {type(value).__name__}."
                )
            if role_name == Role.ADMIN:
                if value is False:
                    raise InvalidCommand(
                        "Admins always have every right, so nobody can lock everyone out; "
                        "change agent or supervisor instead."
                    )
                continue
            key = f"{role_name}:{right_name}"
            if value is None:
                to_reset.append(key)
            else:
                to_set[key] = "true" if value else "false"
    return to_set, to_reset
