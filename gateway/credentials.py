"""The bootstrap admin's credentials: written to a file only its owner can read, never printed.

Start-up output ends up in process managers' logs, terminals' scrollback and CI transcripts, so
the secret goes to ``GATEWAY_DATA_DIR/admin-credentials`` (mode 0600) and the message names the
file.  When the store still accepts the token in that file, the next start reuses it instead of
minting another, so a restart does not invalidate what the operator wrote down.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = "admin-credentials"


def path_in(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def _read(data_dir: Path) -> dict[str, str]:
    try:
        text = path_in(data_dir).read_text()
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines() if not line.startswith("#"))
    return {key.strip(): value.strip() for key, sep, value in pairs if sep and value.strip()}


def read_token(data_dir: Path) -> str | None:
    """The token a previous start wrote, if any."""
    return _read(data_dir).get("token")


def write(data_dir: Path, token: str | None, password: str | None) -> Path:
    """Records what is new (a password kept from an earlier start stays), readable by the owner alone."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = path_in(data_dir)
    values = {**_read(data_dir), **{k: v for k, v in (("password", password), ("token", token)) if v}}
    values["username"] = "admin"
    lines = ["# Switchboard bootstrap admin: log in to the console with this username and password,"]
    lines.append(
        "# or call the API with Authorization: Bearer <token>."
        if "token" in values
        else "# or call the API with the GATEWAY_ADMIN_TOKEN the gateway was started with."
    )
    lines += [f"{key} = {values[key]}" for key in ("username", "password", "token") if key in values]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the mode of an existing file too
        os.write(fd, ("\n".join(lines) + "\n").encode())
    finally:
        os.close(fd)
    return path
