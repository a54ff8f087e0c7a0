"""``python -m gateway`` limits glibc to one malloc arena, unless the operator chose a limit (gateway/malloc_arenas.py).

Run in a child process: the limit is process-wide, and the test runner's own threads should keep theirs.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CALL = "from gateway.malloc_arenas import limit_malloc_arenas; print(limit_malloc_arenas())"


def child(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    return subprocess.run(
        [sys.executable, "-c", CALL], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena limit is glibc's")
def test_the_limit_is_set_on_glibc() -> None:
    assert child({}) == "True"


def test_an_operators_own_limit_is_left_alone() -> None:
    assert child({"MALLOC_ARENA_MAX": "4"}) == "False"
