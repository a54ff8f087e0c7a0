"""The wheel is the product: built from the tree, installed into a fresh virtualenv, it serves the console and widget.

A wheel that lost ``web/`` still imports and answers the API; only loading the pages from the installed copy shows it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

import pytest

from tests.processes import gateway_process

ROOT = Path(__file__).resolve().parents[1]
#: What setuptools reads to build the wheel; copied so the build never writes into, or picks up stale files from, the
#: tree.
SOURCES = ("pyproject.toml", "README.md", "sessions", "gateway", "channels", "web")
#: Pages and assets the installed copy must serve, each with the file in the tree it must match.
SERVED = {
    "/": "index.html",
    "/chat/": "chat/index.html",
    "/chat/widget.js": "chat/widget.js",
    "/console/app.js": "console/app.js",
    "/console/console.css": "console/console.css",
    "/favicon.svg": "favicon.svg",
    "/docs": "docs/index.html",  # the API reference; Swagger UI's own files come from the swagger-ui-bundle package
    "/docs/init.js": "docs/init.js",
}


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in args], check=False, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's python with the built wheel installed; dependencies come from this machine, none is downloaded."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", base / "dist", source, cwd=base
    )
    [wheel] = (base / "dist").glob("switchboard-*.whl")
    venv.create(base / "venv", system_site_packages=True, with_pip=True)
    python = base / "venv" / "bin" / "python"
    # --ignore-installed: the editable install this machine may have of the same version must not satisfy it.
    run(python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--no-index", wheel, cwd=base)
    return python


def test_the_wheel_holds_the_console_and_widget(installed: Path, tmp_path: Path):
    env = {"PYTHONPATH": "", "GATEWAY_DATA_DIR": str(tmp_path / "data")}
    where = run(
        installed, "-c", "import gateway.app, web; print(gateway.app.__file__); print(gateway.app.WEB)", cwd=tmp_path
    )
    venv_root = installed.parent.parent
    assert all(Path(line).is_relative_to(venv_root) for line in where.split()), f"not the installed copy: {where}"
    with gateway_process(env, python=str(installed), cwd=str(tmp_path)) as gw:
        for path, name in SERVED.items():
            with urllib.request.urlopen(gw.url + path, timeout=10) as response:
                assert response.status == 200, path
                assert response.read() == (ROOT / "web" / name).read_bytes(), path
