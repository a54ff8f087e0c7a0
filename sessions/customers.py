"""Customer profiles: one customer across channels and queues, found by the identities they contact us with.

Pure (no I/O).  The store keeps one row per profile and one per identity (``stores/sql/customers.py``);
an identity (a phone number, an email address) belongs to at most one profile, so "who is this caller"
is a primary-key lookup.  Every new interaction is linked to a profile (``Customer.id``): by its phone
number first, then its email, else a new profile.  When a contact later gives a phone number or email
that another profile owns (a chat customer gives their number), the interaction moves to that profile;
details nobody owns yet join the profile the interaction ends up on.  Two existing profiles are never
merged as a side effect: whoever types a detail cannot pull a stranger's profile into their own.

Because anyone can type anyone's email into their own interaction, a profile is shown to a reader
as its interactions in the reader's queues tell it (``shown``): the name, phones and emails that
appear on interactions they may see (admins: everything).

Identities are kept normalised so the same person matches however they typed it: phones as E.164
(``+`` and digits; ``00`` taken as the international prefix; a number without a country code cannot be
told apart from another country's and is not an identity; Twilio's placeholders for a withheld caller
ID are nobody's number), emails stripped and lower-cased.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, NamedTuple

from pydantic import Field

from .errors import InvalidCommand, NotFound
from .events import Change, EventType
from .machine import SYSTEM
from .model import ActivityEntry, CommType, Direction, Interaction, Model, Outcome, Role, State, Status, Subtype, User
from .transitions import require_access

PHONE = "phone"
EMAIL = "email"
#: The most profiles a search returns, and the most interactions a profile lists.
MAX_RESULTS = 50
MAX_HISTORY = 200
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
#: What people put between the digits of a phone number.
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
#: What Twilio sends as ``From`` when the caller withheld their number: ANONYMOUS, RESTRICTED, BLOCKED,
#: UNKNOWN and UNAVAILABLE spelled on a keypad.  They pass as E.164 but would make every hidden caller one customer.
WITHHELD = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"})


def normal_phone(raw: str | None) -> str | None:
    """The E.164 form of a phone number, or None when it has no country code,
    is not a number or is a withheld caller ID."""
    if not raw:
        return None
    value = _PHONE_PUNCTUATION.sub("", raw.strip())
    if value.startswith("00"):
        value = "+" + value[2:]
    return value if _E164.fullmatch(value) and value not in WITHHELD else None


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


class Contact(NamedTuple):
    """What one interaction of a profile says about its customer
    (``name`` lower-cased, as the history columns keep it)."""

    interaction_id: str
    name: str | None
    phone: str | None
    email: str | None


def shown(profile: CustomerProfile, seen: list[Contact]) -> CustomerProfile:
    """The profile as interactions ``seen`` (those the reader may see, newest first) tell it.

    A phone or email shows only if one of them carries it, and the profile's name only if one of them
    carries that name; otherwise the name is None (see :func:`name_source`).  So a reader who linked their
    own interaction to another queue's customer learns nothing they did not type themselves.
    """
    phones = {normal_phone(c.phone) for c in seen}
    emails = {normal_email(c.email) for c in seen}
    names = {(c.name or "").strip().lower() for c in seen}
    name = profile.name if profile.name and profile.name.strip().lower() in names else None
    return profile.model_copy(
        update={
            "name": name,
            "phones": [p for p in profile.phones if p in phones],
            "emails": [e for e in profile.emails if e in emails],
        }
    )


def name_source(seen: list[Contact]) -> str | None:
    """The interaction whose customer name to show when the profile's own is not among ``seen``: the newest with one."""
    return next((c.interaction_id for c in seen if c.name), None)


def matches(profile: CustomerProfile, key: str) -> bool:
    """Whether a search for ``key`` (see :func:`search_key`) finds this profile by what it shows."""
    if key[:1] == "+" or key[:1].isdigit():
        prefix = "+" + key if key[:1].isdigit() else key
        return any(p.startswith(prefix) for p in profile.phones)
    return (profile.name or "").lower().startswith(key) or any(e.startswith(key) for e in profile.emails)


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
    nxt.activity.append(
        ActivityEntry(
            at=now,
            kind="customer_linked",
            by=by or SYSTEM,
            detail=detail,
            data={"customer_id": customer_id, "previous": previous},
        )
    )
    return Change(nxt, EventType.CUSTOMER_LINKED, {"customer_id": customer_id, "previous": previous})
