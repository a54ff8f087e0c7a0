"""Real headless Chromium (Debian's), driven by Playwright, against a real gateway process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.processes import GatewayProcess, gateway_process

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
PASSWORD = "correct horse"  # every console user the browser tests create
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # The softphone test: a fake microphone (a beep), no permission prompt, plain host ICE candidates (no mDNS names),
    # and loopback among them: the gateway under test advertises 127.0.0.1 alone (tests/processes.py MEDIA_ADDRESSES).
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    # Every page under test is on 127.0.0.1: no name is looked up, so Chromium's own background requests
    # (update, sign-in, autofill hosts) never reach the machine's DNS resolver.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test file, stopped at its end: Playwright's sync API runs an event loop of its own while it
    is open, which would break every asyncio test run after it by the same worker (the suite runs files on several
    workers, in any order)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@contextmanager
def sales_gateway(token: str, *people: tuple[str, ...], settings: dict | None = None) -> Iterator[GatewayProcess]:
    """A gateway process with queue ``sales`` (with these queue ``settings``) as the default route and these
    (username, name[, role]) users in it, each with the password ``correct horse``: where most console scenarios
    start."""
    admin = {"Authorization": f"Bearer {token}"}
    with gateway_process({"GATEWAY_ADMIN_TOKEN": token}) as gp:
        queue = {"id": "sales", "name": "Sales", "settings": settings or {}}
        assert httpx.post(f"{gp.url}/api/queues", json=queue, headers=admin).status_code == 201
        assert httpx.put(f"{gp.url}/api/routing", json={"default_queue": "sales"}, headers=admin).status_code == 200
        for username, name, *role in people:
            user = {
                "username": username,
                "name": name,
                "queues": ["sales"],
                "password": "correct horse",
                **({"role": role[0]} if role else {}),
            }
            assert httpx.post(f"{gp.url}/api/users", json=user, headers=admin).status_code == 201
        yield gp


def login(page: Page, server: GatewayProcess, username: str = "alice") -> None:
    """Signs in and waits for the console to be live: its state is loaded and its first view routed, so what a test
    does next (a click on the menu, a new hash) is not undone by the console finishing its start."""
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
