"""Memory per idle agent connection: the gateway against the raw broadcast floor.

    python bench/idle.py [--counts 1000,10000]

For each K: start the server, read its RSS, connect K idle websockets from a
separate load process, let them settle, read the RSS again, and report
(after - before) / K.  The gateway's connections are real agent sessions
(authenticated, subscribed, with presence); the floor's are bare sockets.

Precondition, checked while the RSS is read: the server really holds K established connections (``ss``, on the
server's port).  An earlier version measured sockets its clients had already closed (the load process let an idle
client leave as soon as it had connected), and published a figure for connections that did not exist.
"""

from __future__ import annotations

import argparse
import time
from urllib.parse import urlsplit

from common import established, floor_server, gateway, load, rss_kib


def measure(kind: str, k: int) -> float:
    ctx = floor_server() if kind == "floor" else gateway(kind)
    with ctx as (proc, url, _):
        time.sleep(1.0)  # let start-up allocations settle before the baseline reading
        before = rss_kib(proc.pid)
        with load(url, k, 0, idle=30.0, processes=2):
            time.sleep(2.0)  # all K are connected (the load process said so); let buffers settle
            held = established(urlsplit(url).port or 80)
            after = rss_kib(proc.pid)
            if held < k or established(urlsplit(url).port or 80) < k:
                raise SystemExit(f"{kind}: the server holds {held} established connections, not {k}: no figure")
    return (after - before) * 1024 / k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,10000")
    parser.add_argument("--modes", default="single")
    args = parser.parse_args()
    print("| K idle connections | server | bytes per connection | ratio to floor |")
    print("|---|---|---|---|")
    for k in (int(c) for c in args.counts.split(",")):
        floor = measure("floor", k)
        print(f"| {k} | floor | {floor:,.0f} | 1.00 |", flush=True)
        for mode in args.modes.split(","):
            per = measure(mode, k)
            print(f"| {k} | gateway ({mode}) | {per:,.0f} | {per / floor:.2f} |", flush=True)


if __name__ == "__main__":
    main()
