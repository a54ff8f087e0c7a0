"""Tag routing: which queue (or person) a new interaction goes to, and why.

Two pure steps, both recorded in the interaction's activity feed:

1. *Workflows* (admin-ordered) modify the interaction's tags from what is
   known when it arrives: channel, subtype, the number or address it came
   to, keywords of the first message, customer attributes.
2. *Scoring* ranks every queue and user by the weights of the tags the
   interaction carries.  A queue with required tags is eligible only if the
   interaction has all of them, and eligible queues that require tags rank
   before those that do not ("required tags first"); then the higher score
   wins; ties go to the target routed to least recently, then by id, so the
   decision is deterministic.  Nothing scoring above zero: the default queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from .model import CommType, Model, Subtype, Tag, User
from .queues import Queue


class Condition(Model):
    """Every listed criterion must hold; an empty condition always holds."""

    types: list[CommType] = Field(default_factory=list)
    subtypes: list[Subtype] = Field(default_factory=list)
    #: Numbers or addresses the customer contacted.
    to: list[Annotated[str, Field(max_length=254)]] = Field(default_factory=list, max_length=100)
    #: Any of these words (case-insensitive, whole words) in the first message.
    keywords: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=100)
    #: Customer attributes that must have exactly these values.
    attributes: dict[str, str] = Field(default_factory=dict)


class TagStep(Model):
    when: Condition = Field(default_factory=Condition)
    add: list[Tag] = Field(default_factory=list, max_length=50)
    remove: list[Tag] = Field(default_factory=list, max_length=50)


class Workflow(Model):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    steps: list[TagStep] = Field(default_factory=list, max_length=100)


class RoutingConfig(Model):
    """Workflows apply in list order; the default queue takes what nothing else matches."""

    workflows: list[Workflow] = Field(default_factory=list, max_length=100)
    default_queue: str | None = Field(None, max_length=64)


@dataclass(frozen=True)
class Arrival:
    """What is known of an interaction when it arrives."""

    type: CommType
    subtype: Subtype
    to_address: str | None = None
    first_message: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    kind: str  # "queue" or "user"
    target: str
    #: The queue the interaction is filed in (for a user target: one of theirs).
    queue_id: str
    tags: list[str]
    reason: str
    scores: dict[str, float]
    steps: list[str]
    #: Users who matched better but could not take it now ("user:id" -> why), see targeting.py.
    skipped: dict[str, str] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        data = {
            "target": f"{self.kind}:{self.target}",
            "queue": self.queue_id,
            "tags": self.tags,
            "reason": self.reason,
            "scores": self.scores,
            "steps": self.steps,
        }
        return {**data, "skipped": self.skipped} if self.skipped else data


def _words(text: str) -> set[str]:
    return set(re.findall(r"[\w']+", text.casefold()))


def holds(cond: Condition, arrival: Arrival) -> bool:
    if cond.types and arrival.type not in cond.types:
        return False
    if cond.subtypes and arrival.subtype not in cond.subtypes:
        return False
    if cond.to and arrival.to_address not in cond.to:
        return False
    if cond.keywords:
        words = _words(arrival.first_message or "")
        if not any(set(_words(k)) <= words for k in cond.keywords):
            return False
    return all(arrival.attributes.get(k) == v for k, v in cond.attributes.items())


def apply_workflows(config: RoutingConfig, arrival: Arrival) -> tuple[list[str], list[str]]:
    """The tags after every enabled workflow, and a line per step that fired."""
    tags = list(dict.fromkeys(arrival.tags))
    fired: list[str] = []
    for wf in config.workflows:
        if not wf.enabled:
            continue
        for i, step in enumerate(wf.steps):
            if not holds(step.when, arrival):
                continue
            tags = [t for t in tags if t not in step.remove]
            tags += [t for t in step.add if t not in tags]
            changes = [f"add {','.join(step.add)}"] * bool(step.add) + [f"remove {','.join(step.remove)}"] * bool(
                step.remove
            )
            fired.append(f"{wf.id}#{i + 1}: {'; '.join(changes) or 'no change'}")
    return tags, fired


def score(tags: list[str], weights: dict[str, float]) -> float:
    return sum(weights.get(t, 0.0) for t in tags)


def decide(
    arrival: Arrival,
    config: RoutingConfig,
    queues: list[Queue],
    users: list[User],
    last_routed: dict[str, float],
    fallback_queue: str | None = None,
) -> Decision:
    """Where a new interaction goes.  ``last_routed`` maps "queue:id"/"user:id" to a timestamp."""
    tags, steps = apply_workflows(config, arrival)
    ranked: list[tuple[tuple, str, str, float]] = []
    scores: dict[str, float] = {}
    for q in queues:
        if not set(q.required_tags) <= set(tags):
            continue
        s = score(tags, q.tags)
        key = f"queue:{q.id}"
        scores[key] = s
        if s > 0 or q.required_tags:
            ranked.append(((-len(q.required_tags), -s, last_routed.get(key, 0.0), key), "queue", q.id, s))
    for u in users:
        s = score(tags, u.tags)
        key = f"user:{u.id}"
        if s > 0:
            scores[key] = s
            ranked.append(((0, -s, last_routed.get(key, 0.0), key), "user", u.id, s))
    if ranked:
        _, kind, target, s = min(ranked)
        if kind == "queue":
            return Decision("queue", target, target, tags, f"best match (score {s:g})", scores, steps)
        user = next(u for u in users if u.id == target)
        home = user.queues[0] if user.queues else (fallback_queue or config.default_queue)
        if home is not None:
            return Decision("user", target, home, tags, f"best match (score {s:g})", scores, steps)
    default = fallback_queue or config.default_queue
    if default is None:
        return Decision("queue", "", "", tags, "no match and no default queue", scores, steps)
    why = "no match: the queue the contact came in on" if fallback_queue else "no match: default queue"
    return Decision("queue", default, default, tags, why, scores, steps)
