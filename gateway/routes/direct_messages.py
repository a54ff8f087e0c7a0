"""Direct messages between users: one thread per pair, delivered live over ``/ws/agent`` (``direct_message.sent``).

A thread is visible to its two members only: anyone else, admins included, is told it is not there
(404), the same answer as for a thread never written.
"""

from __future__ import annotations

from sessions.direct_messages import DirectMessage, ThreadPage, ThreadSummary

from ..operations import Call, Operations
from ..schemas import DirectMessageBody, ThreadQuery

ops = Operations("direct-messages")


@ops("GET", "/api/direct-messages", response=list[ThreadSummary])
async def my_threads(call: Call) -> list[ThreadSummary]:
    """My threads, most recently written first, each with the other member,
    the last message and how many I have not read."""
    return await call.sessions.direct_threads(call.user)


@ops("POST", "/api/direct-messages", body=DirectMessageBody, response=DirectMessage, status=201)
async def send_direct_message(call: Call) -> DirectMessage:
    """Writes to a user, continuing our thread if there is one; optionally linked to an interaction I may see."""
    b: DirectMessageBody = call.body
    return await call.sessions.send_direct_message(call.user, b.to, b.body, b.interaction_id)


@ops("GET", "/api/direct-messages/{thread_id}", query=ThreadQuery, response=ThreadPage)
async def thread(call: Call) -> ThreadPage:
    """A page of one of my threads, oldest first; ``before`` in the answer fetches the older page (null: none)."""
    q: ThreadQuery = call.query
    return await call.sessions.direct_thread(call.user, call.path["thread_id"], q.before, q.limit)


@ops("POST", "/api/direct-messages/{thread_id}/read", response=ThreadSummary)
async def read_thread(call: Call) -> ThreadSummary:
    """Marks one of my threads read up to its last message (my other consoles hear of it: ``direct_message.read``)."""
    return await call.sessions.read_direct_thread(call.user, call.path["thread_id"])
