"""Routing administration and the transfer picker."""

from __future__ import annotations

from sessions.routing import RoutingConfig

from ..operations import Call, Operations
from ..schemas import TransferTargets

ops = Operations("routing")


@ops("GET", "/api/routing", response=RoutingConfig)
async def get_routing(call: Call) -> RoutingConfig:
    """The ordered tag workflows and the default queue (supervisors and admins; agents get 403)."""
    return await call.sessions.read_routing_config(call.user)


@ops("PUT", "/api/routing", body=RoutingConfig, response=RoutingConfig)
async def put_routing(call: Call) -> RoutingConfig:
    """Replaces the routing workflows and default queue (admins)."""
    return await call.sessions.set_routing_config(call.user, call.body)


@ops("GET", "/api/routing/refused", response=dict[str, str])
async def last_refused(call: Call) -> dict[str, str]:
    """The last contact turned away because no queue takes it (``at``, ``contact``, ``reason``), or {} (admins)."""
    return await call.sessions.last_refused(call.user)


@ops("GET", "/api/transfer-targets", response=TransferTargets)
async def transfer_targets(call: Call) -> TransferTargets:
    """Queues with their waiting count, average wait and available agents; people with their presence."""
    return TransferTargets.model_validate(await call.sessions.transfer_targets(call.user))
