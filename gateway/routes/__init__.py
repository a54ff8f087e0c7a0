"""HTTP API operations, grouped by what they act on."""

from ..operations import Operation
from . import (
    accounts,
    calls,
    coaching,
    customers,
    direct_messages,
    history,
    interactions,
    permissions,
    queues,
    routing,
    webhooks,
)


def all_operations() -> list[Operation]:
    return [
        *accounts.ops.items,
        *queues.ops.items,
        *interactions.ops.items,
        *routing.ops.items,
        *calls.ops.items,
        *history.ops.items,
        *permissions.ops.items,
        *direct_messages.ops.items,
        *coaching.ops.items,
        *customers.ops.items,
        *webhooks.ops.items,
    ]
