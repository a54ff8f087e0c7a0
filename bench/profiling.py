"""A sampling profile of a server process while a bench drives it: py-spy, summarised as top lines.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;...;leaf count``); the summary gives
each function's share of samples where it was running itself (self) and where it was on the stack
(inclusive), which is what bench/README.md keeps as "the profile's top lines".
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

#: ``function (file:line)`` as py-spy names a frame; the line is dropped so a function's lines add up.
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['name']} ({path})"


def summarise(collapsed: str, top: int = 15) -> str:
    """Top functions by self and by inclusive share of samples, as a Markdown table."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_function(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    if not total:
        raise SystemExit("py-spy recorded no samples: no profile")
    rows = ["| self % | inclusive % | function |", "|---|---|---|"]
    for name, n in own.most_common(top):
        rows.append(f"| {100 * n / total:.1f} | {100 * inclusive[name] / total:.1f} | `{name}` |")
    return f"{total} samples\n\n" + "\n".join(rows)


@contextlib.contextmanager
def profiled(pid: int, out: list[str], rate: int = 250) -> Iterator[None]:
    """Samples ``pid`` with py-spy for the duration of the block; appends the summary to ``out``."""
    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        path = Path(scratch) / "stacks.txt"
        spy = subprocess.Popen(
            ["py-spy", "record", "--gil", "--pid", str(pid), "--format", "raw", "--rate", str(rate), "--output", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield
        finally:
            spy.send_signal(2)  # SIGINT: py-spy stops sampling and writes what it has
            _, err = spy.communicate(timeout=30)
        if not path.exists():
            raise SystemExit(f"py-spy wrote no profile: {err.strip()[-500:]}")
        out.append(summarise(path.read_text()))
