"""Login, logout, the current user, and user administration."""

from __future__ import annotations

from sessions.availability import effective
from sessions.errors import AlreadyExists, PermissionDenied
from sessions.merge_patch import merge_patch
from sessions.model import Role, User
from sessions.permissions import require_admin

from ..auth import TICKET_SECONDS
from ..operations import Call, Operations, bearer_token
from ..schemas import (
    InteractionList,
    LoginBody,
    LoginResult,
    NewUser,
    PresenceBody,
    PresenceState,
    SocketTicket,
    UserPatch,
)

ops = Operations("accounts")


@ops("POST", "/api/auth/login", body=LoginBody, response=LoginResult, authenticated=False)
async def login(call: Call) -> LoginResult:
    """Exchanges a username and password for a bearer token.

    Failures are throttled per account and per client address: past a few, 429 with Retry-After.
    """
    address = call.request.client.host if call.request.client else None
    token, user = await call.auth.login(call.body.username, call.body.password, address)
    return LoginResult(token=token, user=user)


@ops("POST", "/api/auth/logout")
async def logout(call: Call) -> None:
    """Revokes the token this request carries; its open sockets close with 4401."""
    await call.auth.revoke(bearer_token(call.request) or "")


@ops("POST", "/api/auth/ws-ticket", response=SocketTicket, status=201)
async def socket_ticket(call: Call) -> SocketTicket:
    """A single-use, short-lived ticket to open /ws/agent without putting the bearer token in a URL."""
    ticket = await call.auth.issue_ticket(bearer_token(call.request) or "")
    return SocketTicket(ticket=ticket, expires_in=TICKET_SECONDS)


@ops("GET", "/api/me", response=User)
async def me(call: Call) -> User:
    """The user the token belongs to."""
    return call.user


@ops("GET", "/api/me/interactions", response=InteractionList)
async def my_interactions(call: Call) -> InteractionList:
    """Active interactions one holds, is offered or is consulted on,
    whatever their queue (with the cursor to follow them live)."""
    cursor = await call.sessions.last_cursor()
    return InteractionList(items=await call.sessions.involving(call.user), cursor=cursor)


@ops("GET", "/api/users", response=list[User])
async def list_users(call: Call) -> list[User]:
    """Every user (admins), or the users sharing a queue with the caller (transfer picker)."""
    users = await call.sessions.users()
    if call.user.role is Role.ADMIN:
        return users
    mine = set(call.user.queues)
    return [u for u in users if mine.intersection(u.queues)]


@ops("POST", "/api/users", body=NewUser, response=User, status=201)
async def create_user(call: Call) -> User:
    """Creates an agent, supervisor or admin with queue memberships and a password."""
    require_admin(call.user, "manage users")
    b: NewUser = call.body
    user = User(
        id=b.username,
        username=b.username,
        name=b.name,
        role=b.role,
        queues=list(dict.fromkeys(b.queues)),
        tags=b.tags,
        capacity=b.capacity,
        routable=b.routable,
    )
    if await call.sessions.find_user(b.username) is not None:
        raise AlreadyExists(f"Username {b.username} is taken.")
    await call.sessions.save_user(call.user, user)
    await call.auth.set_password(user.id, b.password)
    return user


@ops("GET", "/api/users/{user_id}", response=User)
async def get_user(call: Call) -> User:
    """One user (admins, or the user themself)."""
    if call.user.role is not Role.ADMIN and call.user.id != call.path["user_id"]:
        raise PermissionDenied("Only admins see other users' accounts.")
    return await call.sessions.user(call.path["user_id"])


@ops("PATCH", "/api/users/{user_id}", body=UserPatch, response=User)
async def update_user(call: Call) -> User:
    """Changes a user's name, role, queues, tags, capacity, password, enabled state or whether they take routed work:
    a JSON Merge Patch (RFC 7396), what is not named stays.

    A new password signs the user out everywhere but the session making the change; disabling
    signs them out everywhere.  Open sockets follow at once: re-scoped to the new queues, or closed.
    """
    require_admin(call.user, "manage users")
    current = await call.sessions.user(call.path["user_id"])
    b: UserPatch = call.body
    patch = b.model_dump(mode="json", exclude_unset=True, exclude={"password"})
    if patch.get("queues"):
        patch["queues"] = list(dict.fromkeys(patch["queues"]))
    if patch.get("role", current.role.value) != current.role.value:
        patch.setdefault("routable", None)  # a new role takes its own default for routed work, unless the patch says
    user = User.model_validate(merge_patch(current.model_dump(mode="json"), patch))
    await call.sessions.save_user(call.user, user)
    if b.password:
        await call.auth.set_password(user.id, b.password)
    if user.disabled:
        await call.auth.revoke_all(user.id)
    elif b.password:
        await call.auth.revoke_all(user.id, keep=bearer_token(call.request))
    return user


@ops("POST", "/api/users/{user_id}/revoke-tokens")
async def revoke_tokens(call: Call) -> None:
    """Logs a user out everywhere; their open sockets close with 4401."""
    require_admin(call.user, "manage users")
    await call.sessions.user(call.path["user_id"])  # 404 for unknown users
    await call.auth.revoke_all(call.path["user_id"])


@ops("DELETE", "/api/users/{user_id}/login-failures")
async def clear_login_failures(call: Call) -> None:
    """Forgets the account's failed logins, lifting its throttle at once."""
    require_admin(call.user, "manage users")
    user = await call.sessions.user(call.path["user_id"])
    await call.auth.throttle.clear(user.username)


@ops("PUT", "/api/me/presence", body=PresenceBody, response=PresenceState)
async def set_presence(call: Call) -> PresenceState:
    """Chooses available or away; busy and offline follow from load and connection."""
    await call.sessions.set_presence(call.user, call.body.status)
    return next(p for p in await _presence(call, only={call.user.id}))


async def _presence(call: Call, only: set[str] | None = None) -> list[PresenceState]:
    agents = await call.sessions.agents()
    return [
        PresenceState(
            user=a.user.id,
            name=a.user.name,
            queues=a.user.queues,
            status=status,
            load={ch.value: n for ch, n in a.load.items() if n},
            since=a.choice.since if status is a.choice.status else None,
        )
        for a in agents
        for status in [effective(a.user, a.choice, a.connected, a.load)]
        if (only is None or a.user.id in only)
    ]


@ops("GET", "/api/presence", response=list[PresenceState])
async def presence(call: Call) -> list[PresenceState]:
    """Presence and load of the agents in the caller's queues (supervisors and admins)."""
    if call.user.role is Role.AGENT:
        raise PermissionDenied("Only supervisors and admins see their queues' presence board.")
    if call.user.role is Role.ADMIN:
        return await _presence(call)
    mine = set(call.user.queues)
    return [p for p in await _presence(call) if mine.intersection(p.queues)]
