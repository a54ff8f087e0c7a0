"""Starting the gateway: the default keeps its data on disk, migrations run on their own, bad set-ups stop with one
clear line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import gateway.app as app_module
from gateway.settings import Settings
from tests.processes import gateway_process

ADMIN = {"Authorization": "Bearer start-admin-token"}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_the_default_is_a_sqlite_file_in_the_data_dir_that_survives_a_restart(tmp_path: Path):
    env = {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_ADMIN_TOKEN": "start-admin-token"}
    with gateway_process(env) as gw:
        assert "SQLite" in "".join(gw.output)
        r = httpx.post(f"{gw.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        assert r.status_code == 201, r.text
    assert (tmp_path / "switchboard.db").is_file()
    mode = sqlite3.connect(tmp_path / "switchboard.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    with gateway_process(env) as gw:
        assert [q["id"] for q in httpx.get(f"{gw.url}/api/queues", headers=ADMIN).json()] == ["sales"]


def test_migrate_applies_the_schema_and_says_so(tmp_path: Path):
    done = run(["migrate"], {"GATEWAY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "schema at revision" in done.stdout
    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "switchboard.db").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"interactions", "events", "users", "queues", "alembic_version"} <= tables
    again = run(["migrate"], {"GATEWAY_DATA_DIR": str(tmp_path)})
    assert again.returncode == 0 and again.stdout == done.stdout


def test_redis_with_a_local_sqlite_file_is_refused_at_start(tmp_path: Path):
    done = run([], {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert done.returncode == 1
    assert "cannot start" in done.stderr and "SQLite" in done.stderr and "GATEWAY_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "switchboard.db").exists()


def test_a_failing_migration_stops_the_start_with_its_reason(tmp_path: Path):
    db = tmp_path / "switchboard.db"
    # A table in the way of the first migration: it cannot create "queues".
    sqlite3.connect(db).execute("CREATE TABLE queues (something_else TEXT)").connection.commit()
    done = run([], {"GATEWAY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "cannot start: Database migration failed" in done.stderr and "queues" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_argument_is_refused(tmp_path: Path):
    done = run(["migrat"], {"GATEWAY_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "usage: python -m gateway [migrate]" in done.stderr


def test_an_unsupported_database_url_is_refused(tmp_path: Path):
    done = run([], {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_DATABASE_URL": "mysql://root@127.0.0.1/test"})
    assert done.returncode == 1 and "unsupported database" in done.stderr and "Traceback" not in done.stderr


def test_a_tree_without_the_console_and_widget_refuses_to_start(tmp_path: Path, monkeypatch):
    """An install that lost web/ (a wheel built without its assets) must not start serving an API with no console."""
    (tmp_path / "web" / "chat").mkdir(parents=True)
    monkeypatch.setattr(app_module, "WEB", tmp_path / "web")
    with pytest.raises(
        app_module.ConfigurationError, match=r"console and chat widget .* missing: index\.html, chat/widget\.js"
    ):
        app_module.create_app(Settings(data_dir=tmp_path))
