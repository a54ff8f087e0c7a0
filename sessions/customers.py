"""Customer profiles: one customer across channels and queues, found by the identities they contact us with.

Pure (no I/O).  The store keeps one row per profile and one per identity (``stores/sql/customers.py``);
an identity (a phone number, an email address) belongs to at most one profile, so "who is this caller"
is a primary-key lookup.  Every new interaction is linked to a profile (``Customer.id``): by its phone
number first, then its email, else a new profile.  When a contact later gives a phone number or email
that another profile owns (a chat customer gives their number), the interaction moves to that profile
and the two profiles become one: the old one's identities move over and it points at the survivor
(``merged_into``), so its earlier interactions are the survivor's history too.

Identities are kept normalised so the same person matches however they typed it: phones as E.164
(``+`` and digits; ``00`` taken as the international prefix; a number without a country code cannot be
told apart from another country's and is not an identity), emails stripped and lower-cased.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import Field

from .errors import InvalidCommand, NotFound
from .machine import SYSTEM, Change, require_access
from .model import ActivityEntry, CommType, Direction, Interaction, Model, Outcome, Role, State, Status, Subtype, User

PHONE = "phone"
EMAIL = "email"
#: The most profiles a search returns, and the most interactions a profile lists.
MAX_RESULTS = 50
MAX_HISTORY = 200
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
#: What people put between the digits of a phone number.
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")


def normal_phone(raw: str | None) -> str | None:
    """The E.164 form of a phone number, or None when it has no country code or is not a number."""
    if not raw:
        return None
    value = _PHONE_PUNCTUATION.sub("", raw.strip())
    if value.startswith("00"):
        value = "+" + value[2:]
    return value if _E164.fullmatch(value) else None


def normal_email(raw: str | None) -> str | None:
    """The stripped, lower-cased address, or None when it is not an address."""
    value = (raw or "").strip().lower()
    return value if _EMAIL.fullmatch(value) and len(value) <= 254 else None


def identities(phone: str | None, email: str | None) -> list[tuple[str, str]]:
    """The (kind, value) identities of a contact, phone first: the order a lookup tries them."""
    found = [(PHONE, normal_phone(phone)), (EMAIL, normal_email(email))]
    return [(kind, value) for kind, value in found if value]


class CustomerProfile(Model):
    """One customer: a name and every phone number and email address they reached us from."""

    id: str
    name: str | None = None
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    created_at: datetime


class InteractionSummary(Model):
    """One line of a customer's history: enough to list it and link to it."""

    id: str
    queue_id: str
    direction: Direction
    type: CommType
    subtype: Subtype
    state: State
    status: Status
    outcome: Outcome | None = None
    subject: str | None = None
    assigned_to: str | None = None
    completed_by: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    merged_into: str | None = None

    @classmethod
    def of(cls, ix: Interaction) -> InteractionSummary:
        return cls.model_validate(ix.model_dump(include=set(cls.model_fields)))


class CustomerHistory(Model):
    """A profile and the interactions of it the reader may see, newest first."""

    customer: CustomerProfile
    interactions: list[InteractionSummary]


SearchText = Annotated[str, Field(min_length=1, max_length=200)]


def search_key(q: str) -> str:
    """What a search for ``q`` compares with: a phone's digits as E.164 would start, else lower-cased text."""
    text = q.strip()
    if not text:
        raise InvalidCommand("Give at least one character of a name, phone number or email to search for.")
    digits = _PHONE_PUNCTUATION.sub("", text)
    if re.fullmatch(r"(\+|00)?\d+", digits):
        return "+" + digits.removeprefix("+").removeprefix("00") if digits.startswith(("+", "00")) else digits
    return text.lower()


def visible_queues(actor: User) -> set[str] | None:
    """The queues whose interactions ``actor`` may list (None: every queue): admins all, others their own."""
    return None if actor.role is Role.ADMIN else set(actor.queues)


def require_visible(profile_id: str, shown: list[Interaction], actor: User) -> None:
    """An agent learns of a profile only through an interaction they may see: otherwise it does not exist for them."""
    if actor.role is not Role.ADMIN and not shown:
        raise NotFound(f"Customer {profile_id} does not exist.")
    for ix in shown:
        require_access(ix, actor)


def link(ix: Interaction, *, customer_id: str, by: str | None, now: datetime) -> Change:
    """Points the interaction at the customer profile its contact details belong to, recorded in its feed."""
    if ix.customer.id == customer_id:
        raise InvalidCommand(f"Interaction {ix.id} already belongs to customer {customer_id}.")
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    previous = ix.customer.id
    nxt.customer.id = customer_id
    detail = f"Linked to customer {customer_id}" + (f" (was {previous})" if previous else "")
    nxt.activity.append(ActivityEntry(at=now, kind="customer_linked", by=by or SYSTEM, detail=detail, data={"customer_id": customer_id, "previous": previous}))
    return Change(nxt, "interaction.customer_linked", {"customer_id": customer_id, "previous": previous})
