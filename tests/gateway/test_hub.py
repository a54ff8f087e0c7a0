"""The hub hands each event, framed once, to every socket it concerns; a live socket gets it written at once,
and only a socket that cannot take it now buffers it, without ever letting a later event overtake."""

from __future__ import annotations

from datetime import UTC, datetime

from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gateway.hub import Hub, Outgoing, Subscriber
from sessions.events import Event, EventType


class Connection:
    """A socket's write path as the hub sees it: takes frames while ``open``, records what it took."""

    def __init__(self) -> None:
        self.open = True
        self.frames: list[bytes] = []
        self.wakes = 0

    def write(self, frame: bytes) -> bool:
        if self.open:
            self.frames.append(frame)
        return self.open

    def wake(self) -> None:
        self.wakes += 1


def live(conn: Connection, capacity: int = 10) -> Subscriber:
    sub = Subscriber(queues=None, users=set(), role=None, capacity=capacity)
    sub.write_now, sub.wake = conn.write, conn.wake
    return sub


def parsed(frame: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(frame)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


def test_the_frame_is_a_final_unmasked_text_frame_of_the_json() -> None:
    frame = parsed(Outgoing(1, '{"type": "é"}').frame)
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data.decode() == '{"type": "é"}'


def test_a_live_socket_that_can_take_the_frame_gets_it_at_once_and_buffers_nothing() -> None:
    conn = Connection()
    sub = live(conn)
    sub.push(Outgoing(1, "a"))
    assert conn.frames == [Outgoing(1, "a").frame] and not sub.buffer and sub.sent == 1 and conn.wakes == 0


def test_a_socket_that_cannot_take_it_buffers_and_asks_for_a_flush() -> None:
    conn = Connection()
    conn.open = False
    sub = live(conn)
    sub.push(Outgoing(1, "a"))
    assert [o.key for o in sub.buffer] == [1] and conn.wakes == 1 and sub.sent == 0


def test_nothing_overtakes_what_is_buffered_or_being_flushed() -> None:
    conn = Connection()
    conn.open = False
    sub = live(conn)
    sub.push(Outgoing(1, "a"))
    conn.open = True  # the transport takes writes again, but event 1 has not gone out yet
    sub.push(Outgoing(2, "b"))
    assert conn.frames == [] and [o.key for o in sub.buffer] == [1, 2]
    taken = sub.take()
    sub.flushing = True  # a flusher is sending what it took
    sub.push(Outgoing(3, "c"))
    assert [o.key for o in taken] == [1, 2] and [o.key for o in sub.buffer] == [3] and conn.frames == []


def test_what_the_replay_already_sent_is_not_sent_again() -> None:
    conn = Connection()
    sub = live(conn)
    sub.sent = 5  # the replay, which reads the log ahead of the hub, went up to 5
    sub.push(Outgoing(5, "e"))
    sub.push(Outgoing(6, "f"))
    assert conn.frames == [Outgoing(6, "f").frame]


def test_a_full_buffer_cuts_the_socket_off_and_frees_it() -> None:
    conn = Connection()
    conn.open = False
    sub = live(conn, capacity=2)
    for key in (1, 2, 3):
        sub.push(Outgoing(key, "x"))
    assert sub.overflowed and not sub.buffer
    sub.push(Outgoing(4, "x"))
    assert not sub.buffer


def test_every_socket_an_event_concerns_gets_the_same_frame_built_once() -> None:
    hub = Hub(store=None)  # type: ignore[arg-type]  # dispatch reads nothing from the store
    sales, admin, other = Connection(), Connection(), Connection()
    subs = [live(sales), live(admin), live(other)]
    subs[0].queues, subs[2].queues = {"sales"}, {"support"}
    for sub in subs:
        hub.subscribers.add(sub)
    event = Event(id="7", type=EventType.QUEUE_METRICS, at=datetime.now(UTC), queues=["sales"])
    hub.dispatch([event])
    assert len(sales.frames) == len(admin.frames) == 1 and other.frames == []
    assert sales.frames[0] is admin.frames[0]  # one bytes object for every socket
    assert parsed(sales.frames[0]).data.decode().startswith('{"id":"7","type":"queue.metrics"')
