"""One malloc arena for the whole process (glibc), unless the operator set ``MALLOC_ARENA_MAX`` themselves.

glibc gives each thread that allocates an arena of its own (up to eight per core).  The store's worker threads
(aiosqlite runs one per SQLite connection) allocate and free while agents connect; the holes they leave in their
arenas are never reused by the event loop's thread, and they stay in the process's memory.  Measured per idle
agent socket (bench/idle.py): about 6 KB of such holes on top of about 19 KB of live objects; with one arena the
loop's own allocations fill them.  The cost is the arena lock shared between threads, which the GIL and glibc's
per-thread caches (tcache) keep small; bench/voice_capacity.py, whose calls run aiortc's encoder threads, measured
no difference (bench/README.md).

Called by ``python -m gateway`` before any thread starts.  The ``uvicorn`` command line (Procfile) cannot call it
early enough: there, set ``MALLOC_ARENA_MAX=1`` in the environment (deploy/switchboard.env.example does).
"""

from __future__ import annotations

import ctypes
import os

#: glibc's mallopt parameter for the arena limit (malloc.h).
M_ARENA_MAX = -8


def limit_malloc_arenas(count: int = 1) -> bool:
    """Sets glibc's arena limit; False where the environment already set one or the C library has no ``mallopt``."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, some musl builds): nothing to limit
        return False
    return bool(mallopt(M_ARENA_MAX, count))
