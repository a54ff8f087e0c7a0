"""Administration: queues, users and the routing configuration, changed by admins and read by whoever may.

A mixin of :class:`sessions.service.Sessions` (like :class:`sessions.directory.Directory`).  Nothing here touches an
interaction: queues and users are stored as given, after the checks below; a user's change is also published, so
every process re-scopes that user's open sockets.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from . import access
from .clock import Clock
from .errors import AlreadyExists, NotFound, PermissionDenied
from .events import Event, EventType
from .merge_patch import merge_patch
from .model import Role, User
from .permissions import require_admin
from .queues import Queue
from .routing import RoutingConfig
from .stores.base import Store


def queue_changed(queue: Queue, at: datetime) -> Event:
    """For every console showing the queue: its members (their pickers, tabs) and admins (every queue)."""
    return Event(type=EventType.QUEUE_CHANGED, at=at, queues=[queue.id], data={"queue": queue.model_dump(mode="json")})


def user_saved(user: User, at: datetime) -> Event:
    """For admins' user lists, and the user themself (their queues may have changed); no other agent."""
    return Event(
        type=EventType.USER_SAVED,
        at=at,
        users=[user.id],
        roles=[Role.ADMIN.value],
        data={"user": user.model_dump(mode="json")},
    )


class Administration:
    """Relies on ``Sessions.store`` and its clock."""

    store: Store
    clock: Clock

    # -- queues and users ------------------------------------------------------

    async def create_queue(self, actor: User, queue: Queue) -> Queue:
        require_admin(actor, "can do this")
        try:
            await self.store.get_queue(queue.id)
        except NotFound:
            await self.store.put_queue(queue, [queue_changed(queue, self.clock.now())])
            return queue
        raise AlreadyExists(f"Queue {queue.id} already exists.")

    async def configure_queue(self, actor: User, queue_id: str, patch: dict[str, Any]) -> Queue:
        """Applies a JSON Merge Patch (name, settings, tags, required_tags; the id stays), validated as a whole."""
        require_admin(actor, "can do this")
        queue = await self.store.get_queue(queue_id)
        patch = {k: v for k, v in patch.items() if k != "id"}
        updated = Queue.model_validate(
            merge_patch(queue.model_dump(mode="json"), patch)
        )  # invalid: 422, nothing stored
        await self.store.put_queue(updated, [queue_changed(updated, self.clock.now())])
        return updated

    async def queues_for(self, actor: User) -> list[Queue]:
        return [q for q in await self.store.list_queues() if actor.can_see_queue(q.id)]

    async def save_user(self, actor: User, user: User) -> User:
        """Creates or replaces a user; every queue it is put in must exist."""
        require_admin(actor, "can do this")
        for qid in user.queues:
            await self.store.get_queue(qid)
        now = self.clock.now()
        # In the log with the row, so every process re-scopes (or, if disabled, closes) the user's open sockets,
        # and open consoles list the user, from the same commit.
        await self.store.put_user(user, [access.user_changed(user, now), user_saved(user, now)])
        return user

    # -- routing configuration -------------------------------------------------

    async def routing_config(self) -> RoutingConfig:
        raw = (await self.store.map_all("config")).get("routing")
        return RoutingConfig.model_validate_json(raw) if raw else RoutingConfig()

    async def read_routing_config(self, actor: User) -> RoutingConfig:
        """The routing configuration, for supervisors and admins: it shows every queue and keyword,
        which agents need not see."""
        if actor.role is Role.AGENT:
            raise PermissionDenied(
                f"Only supervisors and admins read the routing configuration; {actor.name} is an agent."
            )
        return await self.routing_config()

    async def last_refused(self, actor: User) -> dict[str, str]:
        """The last contact no queue took (when, what, why; written by ``Inbound``), or {}: what admins must fix."""
        require_admin(actor, "can do this")
        raw = await self.store.map_get("alerts", "unrouted")
        return json.loads(raw) if raw else {}

    async def set_routing_config(self, actor: User, config: RoutingConfig) -> RoutingConfig:
        require_admin(actor, "can do this")
        if config.default_queue is not None:
            await self.store.get_queue(config.default_queue)
        await self.store.map_set("config", "routing", config.model_dump_json())
        return config
