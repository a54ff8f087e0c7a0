"""Rights per role: every signed-in user reads them (the console hides what its user cannot do); admins change them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictBool

from sessions.model import Role
from sessions.permissions import Right

from ..operations import Call, Operations

ops = Operations("permissions")

#: One role's rights in a patch: true grants, false withdraws, null restores the default.
RoleRights = dict[Right, StrictBool | None]


class PermissionsPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396) of the rights table: only the roles and rights named change."""

    model_config = ConfigDict(extra="forbid")

    agent: RoleRights | None = None
    supervisor: RoleRights | None = None
    admin: RoleRights | None = None


class PermissionsView(BaseModel):
    #: Every role's rights; admins always have all of them.
    roles: dict[Role, dict[Right, bool]]
    #: The caller's own rights.
    mine: dict[Right, bool]
    #: What each right allows, for people.
    rights: dict[Right, str]


@ops("GET", "/api/permissions", response=PermissionsView)
async def get_permissions(call: Call) -> dict:
    """Every role's rights and the caller's own ("mine"); any signed-in user."""
    return await call.sessions.read_permissions(call.user)


@ops("PATCH", "/api/permissions", body=PermissionsPatch, response=PermissionsView)
async def patch_permissions(call: Call) -> dict:
    """Grants (true), withdraws (false) or restores to the default
    (null) rights of a role (admins); unnamed rights stay as they are."""
    return await call.sessions.change_permissions(call.user, call.body.model_dump(mode="json", exclude_unset=True))
