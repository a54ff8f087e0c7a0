"""HTTP API operations, grouped by what they act on."""

from ..operations import Operation
from . import accounts, calls, coaching, history, interactions, queues, routing


def all_operations() -> list[Operation]:
    return [*accounts.ops.items, *queues.ops.items, *interactions.ops.items, *routing.ops.items, *calls.ops.items, *history.ops.items, *coaching.ops.items]
