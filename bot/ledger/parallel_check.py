"""Verify a large ledger on every CPU: ranges go to helper processes, links are checked here.

Helpers are plain `python -S -m bot.ledger.range_worker` subprocesses: without `site` and with
nothing but the standard library to import they start in about 15 ms, and nothing of this
process (threads, an event loop, open connections) is copied into them. The asking process
checks the first, slightly larger range itself while they start.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import bot
from bot.ledger.range_check import check_range

PARALLEL_FROM = 60_000  # below this, starting helper processes costs more than it saves
_HEAD_START = 0.1  # extra share of the work for the asking process, which starts at once


def helper_count() -> int:
    """CPUs this process may run on; each range beyond the first goes to one helper."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """1..count in `parts` ranges; the first a little larger, as its process starts at once."""
    if parts <= 1:
        return [(1, count)]
    first = int(count / parts * (1 + _HEAD_START))
    rest = count - first
    bounds = [(1, first)]
    size, extra = divmod(rest, parts - 1)
    low = first + 1
    for i in range(parts - 1):
        high = low + size - 1 + (1 if i < extra else 0)
        bounds.append((low, high))
        low = high + 1
    return bounds


def check_all(conn: sqlite3.Connection, path: Path, count: int) -> tuple[str, str] | None:
    """check_range over 1..count, with helper processes for large ledgers."""
    parts = min(helper_count(), max(1, count // (PARALLEL_FROM // 2)))
    if parts <= 1:
        return check_range(conn, 1, count)
    ranges = split(count, parts)
    source = str(Path(bot.__file__).resolve().parent.parent)  # where `bot` is importable from
    env = {**os.environ, "PYTHONPATH": source}
    helpers = [
        subprocess.Popen(
            [sys.executable, "-S", "-m", "bot.ledger.range_worker", str(path), str(low), str(high)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for low, high in ranges[1:]
    ]
    results = [check_range(conn, *ranges[0])]
    for helper in helpers:
        out, _ = helper.communicate()
        results.append(_parse(out) if helper.returncode == 0 else None)
    return _join(results)


def _parse(out: bytes) -> tuple[str, str] | None:
    try:
        value = json.loads(out)
        return (str(value[0]), str(value[1])) if value else None
    except (ValueError, TypeError, IndexError):
        return None


def _join(results: list[tuple[str, str] | None]) -> tuple[str, str] | None:
    """Ranges that are intact in themselves, linked end to start, make one intact chain."""
    if any(r is None for r in results):
        return None
    pairs = [r for r in results if r is not None]
    for before, after in itertools.pairwise(pairs):
        if after[0] != before[1]:
            return None
    return (pairs[0][0], pairs[-1][1])
