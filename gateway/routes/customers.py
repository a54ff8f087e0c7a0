"""Customers: search profiles, read one with its history, and merge two interactions of one customer.

Both reads are scoped to the caller's queues (admins: all): an agent sees only the interactions of
queues they belong to, and a customer with none there does not exist for them (404).
"""

from __future__ import annotations

from sessions.customers import CustomerHistory, CustomerProfile
from sessions.model import Interaction

from ..operations import Call, Operations
from ..schemas import CustomerSearch, MergeBody

ops = Operations("customers")


@ops("GET", "/api/customers", query=CustomerSearch, response=list[CustomerProfile])
async def search_customers(call: Call) -> list[CustomerProfile]:
    """Customers whose name, phone or email starts with ``q``,
    among those with an interaction in the caller's queues (at most ``limit``)."""
    q: CustomerSearch = call.query
    return await call.sessions.search_customers(call.user, q.q, q.limit)


@ops("GET", "/api/customers/{customer_id}", response=CustomerHistory)
async def get_customer(call: Call) -> CustomerHistory:
    """A customer as the caller may see them (the name, phones and emails on interactions of their queues; admins: all)
    and their interactions in the caller's queues, newest first."""
    return await call.sessions.customer_history(call.user, call.path["customer_id"])


@ops("POST", "/api/interactions/{interaction_id}/merge", body=MergeBody, response=Interaction)
async def merge(call: Call) -> Interaction:
    """Merges another active interaction of the same customer into this one:
    everything combined here in time order, the other completed with a link.

    Once committed, the customer's SMS thread that led to the other leads here, so their next text joins this one.
    """
    b: MergeBody = call.body
    event = await call.sessions.merge(call.user, call.path["interaction_id"], b.from_)
    assert event.interaction is not None
    gone = await call.sessions.interaction(b.from_)
    await call.request.app.state.webhooks.sms.merged(gone, event.interaction)
    return event.interaction
