"""Where a profiled fleet run's CPU went, by area, in ms per machine.

    python -m bench.areas WORKDIR/fleet.prof --machines 2000

Every function's own time (not cumulative: nothing is counted twice) goes to the first area
whose rule matches its file or name. Take the profile with ``bench.run --cprofile``. The stdlib
profiler times with a wall clock: the event loop's wait in ``epoll`` is left out (it is idle,
not CPU), but on a busy machine system calls (file writes, sends) still look dearer than they
are. The profiler's own overhead inflates every area about alike: read the shares, and scale
them to the unprofiled run's CPU per machine.
"""

from __future__ import annotations

import argparse
import pstats
from collections import defaultdict

__all__ = ["AREAS", "area_of", "main"]

# (area, substrings of "file:function"); first match wins, so the specific rules come first.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("start-up (imports)", ("<frozen importlib", "marshal.loads", "builtins.compile",
                            "<frozen zipimport", "sre_compile", "re/_compiler", "re/_parser")),
    ("SAS signing", ("shared_access_signature", "fleet/blobs/sas.py", "hmac", "_hashlib.hmac")),
    ("inventory YAML", ("/yaml/", "fleet/inventory/")),
    ("plan", ("fleet/plan/", "fleet/templating", "jinja2/")),
    ("reports", ("fleet/report/",)),
    ("journal (SQLite)", ("fleet/journal.py", "sqlite3", "json/")),
    ("output files (write, sha256, rename, mkdir, mask)", (
        "fleet/blobs/download.py", "fleet/blobs/decode.py", "fleet/engine/collect.py",
        "fleet/redact.py", "posix.", "_hashlib", "io.open", "_io.", "codecs", "pathlib")),
    ("blob SDK pipeline (azure-storage-blob, azure-core)", ("/azure/", "fleet/blobs/")),
    ("ARM client (fleet/arm: retry, throttle, parse)", ("fleet/arm/",)),
    ("HTTP + TLS (aiohttp, ssl, sockets; ARM and blob)", (
        "/aiohttp/", "/yarl/", "/multidict/", "/propcache/", "sslproto", "ssl.py", "_ssl.",
        "_socket.", "selector_events", "/http/", "urllib/")),
    ("poll schedule (poller, survival estimate)", (
        "fleet/engine/poller.py", "fleet/engine/survival.py", "heapq", "bisect")),
    ("event loop (asyncio)", (
        "asyncio/", "selectors", "select.epoll", "_contextvars", "_asyncio.", "threading.py",
        "concurrent/", "queue", "_thread.")),
    ("engine (jobs, rollout, progress)", ("fleet/engine/", "fleet/")),
]


def area_of(where: str) -> str:
    for area, needles in AREAS:
        if any(needle in where for needle in needles):
            return area
    return "other (interpreter, stdlib)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile")
    parser.add_argument("--machines", type=int, required=True)
    parser.add_argument("--top", type=int, default=0, help="also list the N costliest 'other'")
    args = parser.parse_args()
    stats = pstats.Stats(args.profile)
    raw = stats.stats  # type: ignore[attr-defined]
    by_area: dict[str, float] = defaultdict(float)
    others: list[tuple[float, str]] = []
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        where = f"{filename}:{function}"
        if "select.epoll" in where:
            continue  # waiting for I/O: idle, not CPU
        area = area_of(where)
        by_area[area] += tottime
        if area.startswith("other"):
            others.append((tottime, where))
    total = sum(by_area.values())
    print(f"profiled CPU {total:.1f} s, {total / args.machines * 1000:.2f} ms/machine")
    print("| area | share | ms/machine (profiled) |")
    print("|---|---:|---:|")
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        print(f"| {area} | {seconds / total:.1%} | {seconds / args.machines * 1000:.2f} |")
    for seconds, where in sorted(others, reverse=True)[: args.top]:
        print(f"  other: {seconds:.2f} s {where}")


if __name__ == "__main__":
    main()
