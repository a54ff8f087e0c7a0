"""The scenario of the state-machine tests: queues, users, times from T0, and interactions at a few stages.

test_machine.py, test_machine_transfer.py, test_call_control.py and other tests of sessions/ build on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sessions import machine
from sessions.events import Change
from sessions.model import (
    CommType,
    Customer,
    Direction,
    Interaction,
    Outcome,
    Role,
    Subtype,
    TargetKind,
    TransferMode,
    TransferTarget,
    User,
)
from sessions.queues import Queue, QueueSettings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SALES = Queue(
    id="sales", name="Sales", settings=QueueSettings(ring_time=15, wrap_up_limit=60, phone_number="+15550001000")
)
SUPPORT = Queue(id="support", name="Support")
ALICE = User(id="alice", username="alice", name="Alice", queues=["sales"])
BOB = User(id="bob", username="bob", name="Bob", queues=["sales", "support"])
EVE = User(id="eve", username="eve", name="Eve", queues=["support"])
SUP = User(id="sup", username="sup", name="Sam", role=Role.SUPERVISOR, queues=["sales"])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def inbound_call(**kw) -> Interaction:
    return machine.create(
        id="ix1",
        queue=SALES,
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        now=T0,
        customer=Customer(name="Carla", phone="+14155550100"),
        **kw,
    ).interaction


def claimed_by(user: User = ALICE, ix: Interaction | None = None) -> Interaction:
    return machine.claim(ix or inbound_call(), actor=user, now=at(5)).interaction


def completed() -> Interaction:
    ix = machine.end(claimed_by(), actor=ALICE, outcome=Outcome.RESOLVED, now=at(60)).interaction
    return machine.complete(ix, actor=ALICE, now=at(70)).interaction


def transfer(
    ix: Interaction,
    to: User | Queue | str,
    *,
    actor: User = ALICE,
    mode: TransferMode = TransferMode.COLD,
    now: datetime | None = None,
    note: str = "",
) -> Change:
    """`actor` transfers `ix` out of Sales at 10 s (or `now`) to a user, a queue or an outside number."""
    if isinstance(to, User):
        target, known = TransferTarget(kind=TargetKind.USER, id=to.id), {"target_user": to}
    elif isinstance(to, Queue):
        target, known = TransferTarget(kind=TargetKind.QUEUE, id=to.id), {"target_queue": to}
    else:
        target, known = TransferTarget(kind=TargetKind.EXTERNAL, id=to), {}
    return machine.transfer(
        ix, actor=actor, target=target, mode=mode, queue=SALES, now=now or at(10), note=note, **known
    )


def consulting_bob(ix: Interaction | None = None) -> Interaction:
    """Alice, handling the call, consults Bob about a warm transfer at 10 s."""
    return transfer(ix or claimed_by(ALICE), BOB, mode=TransferMode.WARM).interaction
