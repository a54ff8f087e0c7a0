"""Event types are a closed set: the enum, the list in docs/events.md and what web/ listens for agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sessions import machine
from sessions.events import EventType
from sessions.machine.conversation import REPORTED, ProviderReport
from sessions.webhooks import SUBSCRIBABLE
from tests.conftest import World
from tests.sessions.scenarios import T0, inbound_call
from tests.sessions.test_disconnect import waiting

ROOT = Path(__file__).resolve().parents[2]
#: An event type in a script: a quoted family name, a dot, a snake_case name.
IN_SCRIPT = re.compile(r"""["'`]((?:interaction|queue|presence|user|permissions|direct_message|chat)\.[a-z_]+)["'`]""")
#: One line of docs/events.md: "- `type` — meaning".
IN_DOCS = re.compile(r"^- `([^`]+)` — \S", re.MULTILINE)


def test_every_event_type_web_listens_for_is_one_the_system_emits():
    found = {m for path in (ROOT / "web").rglob("*.js") for m in IN_SCRIPT.findall(path.read_text(encoding="utf-8"))}
    assert "presence.changed" in found, "the pattern finds the types the console listens for"
    assert found - set(EventType) == set()


def test_the_webhooks_screen_offers_exactly_the_types_a_subscription_may_name():
    script = (ROOT / "web" / "console" / "admin_webhooks.js").read_text(encoding="utf-8")
    listed = re.search(r"const EVENTS = \((.*?)\)\.split", script, re.DOTALL)
    assert listed, "admin_webhooks.js lists the subscribable types as one string of names"
    names = "".join(re.findall(r'"([^"]*)"', listed.group(1))).split()
    assert tuple(f"interaction.{n}" for n in names) == SUBSCRIBABLE


def test_docs_list_exactly_the_event_types_once_each():
    listed = IN_DOCS.findall((ROOT / "docs" / "events.md").read_text(encoding="utf-8"))
    assert sorted(listed) == sorted(EventType)
    assert len(listed) == len(set(listed))


@pytest.mark.parametrize("kind", list(ProviderReport))
def test_each_provider_report_has_its_own_event_type(kind):
    change = machine.provider_status(inbound_call(), kind=kind, status="x", detail="d", now=T0)
    assert change.type is REPORTED[kind] and change.type == f"interaction.{kind}"
    assert change.interaction.activity[-1].kind == kind


def test_a_report_of_an_unknown_kind_is_refused_not_made_into_an_event_type():
    with pytest.raises(ValueError, match="made_up"):
        ProviderReport("made_up")


async def test_the_service_refuses_an_unknown_report_before_storing_anything(world: World):
    ix_id = await waiting(world)
    with pytest.raises(ValueError):
        await world.sessions.provider_status(ix_id, kind="made_up", status="x", detail="d")
    assert (await world.sessions.store.get_interaction(ix_id)).version == 1
