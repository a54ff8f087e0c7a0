"""Service commands for customer profiles and merging, mixed into ``Sessions``.

The rules are pure and live elsewhere (``customers.py``: identities and visibility; ``merge.py``:
what a merge does and when it is refused); this mixin resolves what they need from the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from . import customers, merge
from .clock import Clock
from .customers import CustomerHistory, CustomerProfile, InteractionSummary
from .errors import InvalidCommand
from .events import Change, Event
from .model import Customer, User
from .stores.base import Store
from .transitions import require_access

#: How many pages of candidates a search reads before it settles for fewer results than asked.
SEARCH_PAGES = 4


class CustomerBook:
    """Links every new interaction to a customer profile, reads profiles with their history, merges interactions."""

    store: Store
    clock: Clock
    ids: Callable[[], str]

    async def link(self, customer: Customer | None, current: str | None = None) -> Customer:
        """The contact details with ``id`` set to their profile
        (found by phone, then email; else ``current``, else new)."""
        customer = customer or Customer()
        profile = await self.store.link_customer(
            phone=customer.phone,
            email=customer.email,
            name=customer.name,
            current=current,
            new_id=self.ids(),
            at=self.clock.now(),
        )
        return customer.model_copy(update={"id": profile.id})

    async def linked(self, change: Change, current: str | None = None) -> Change:
        """A creation whose interaction is linked to its customer's profile
        (called once the command is known to be legal)."""
        customer = await self.link(change.interaction.customer, current)
        return dataclasses.replace(change, interaction=change.interaction.model_copy(update={"customer": customer}))

    async def relink(self, actor: User | None, event: Event, previous: str | None) -> Event:
        """After the customer's details were edited: moves the interaction to the profile they now belong to.

        A chat customer who gives a phone number someone already called from joins that number's
        profile (their earlier profile stays as it was); new details join the current profile.
        """
        ix = event.interaction
        assert ix is not None
        customer = await self.link(ix.customer, previous)
        if customer.id == ix.customer.id:
            return event
        now = self.clock.now()
        return await self.store.update(
            ix.id,
            lambda cur: customers.link(cur, customer_id=customer.id or "", by=actor.id if actor else None, now=now),
            now,
        )

    async def search_customers(self, actor: User, q: str, limit: int = 20) -> list[CustomerProfile]:
        """Profiles whose name, phone or email starts with ``q``,
        among customers of the caller's queues, as the caller may see them.

        A profile found by a detail the caller may not see (it is only on another queue's interactions)
        is left out, so a search cannot confirm another queue's customer's name or number.
        """
        key, queues, limit = customers.search_key(q), customers.visible_queues(actor), min(limit, customers.MAX_RESULTS)
        found: list[CustomerProfile] = []
        for page in range(SEARCH_PAGES):
            batch = await self.store.search_customers(key, queues, limit, page * limit)
            for profile in batch:
                view = await self.shown(actor, profile)
                if queues is None or customers.matches(view, key):
                    found.append(view)
            if len(found) >= limit or len(batch) < limit or queues is None:
                break
        return found[:limit]

    async def customer_history(
        self, actor: User, customer_id: str, limit: int = customers.MAX_HISTORY
    ) -> CustomerHistory:
        """The profile (as the caller may see it) and its interactions in the caller's queues,
        newest first (NotFound if the caller may see none)."""
        profile = await self.store.get_customer(customer_id)
        shown = await self.store.customer_interactions(
            profile.id, customers.visible_queues(actor), min(limit, customers.MAX_HISTORY)
        )
        customers.require_visible(customer_id, shown, actor)
        return CustomerHistory(
            customer=await self.shown(actor, profile), interactions=[InteractionSummary.of(ix) for ix in shown]
        )

    async def shown(self, actor: User, profile: CustomerProfile) -> CustomerProfile:
        """``profile`` as the interactions ``actor`` may see tell it (see customers.shown); admins see all of it."""
        queues = customers.visible_queues(actor)
        if queues is None:
            return profile
        seen = await self.store.customer_contacts(profile.id, queues, customers.MAX_HISTORY)
        view = customers.shown(profile, seen)
        source = customers.name_source(seen) if view.name is None else None
        if source is not None:
            view = view.model_copy(update={"name": (await self.store.get_interaction(source)).customer.name})
        return view

    async def merge(self, actor: User, survivor_id: str, from_id: str) -> Event:
        """Merges ``from_id`` into ``survivor_id`` (see merge.py);
        both change in one transaction.  Returns the survivor's event."""
        if survivor_id == from_id:
            require_access(await self.store.get_interaction(survivor_id), actor)
            raise InvalidCommand(
                f"Cannot merge interaction {survivor_id} into itself: name another interaction of the customer."
            )
        now = self.clock.now()
        kept, _gone = await self.store.update_pair(
            survivor_id, from_id, lambda s, o: merge.merge(s, o, actor=actor, now=now), now
        )
        return kept
