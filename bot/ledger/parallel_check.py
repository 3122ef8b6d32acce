"""Verify a large ledger on every CPU: chunks of the chain go to whichever process is free.

Helpers are plain `python -S -m bot.ledger.range_worker` subprocesses: without `site` and with
nothing but the standard library to import they start in tens of milliseconds, and nothing of
this process (threads, an event loop, open connections) is copied into them.

The chunks are fixed-size records in one pipe that every process reads from. The pipe holds
only whole records, all written before anyone reads, so each read of one record's size takes
exactly one chunk and every chunk is checked once, by whichever process asks first. A CPU that
is busy (the bot answering Slack while it verifies) or slowed by the host simply takes fewer
chunks. With fixed shares, as before, the fast CPU finished its half and waited for the slow
one. The asking process takes chunks too, from the start, while its helpers start.

Each process is given a CPU of its own for the check (the asking thread gets its old CPUs back
afterwards). Left to the scheduler, a helper starts on its parent's CPU and the two can share
that one CPU for most of a check, each at half speed, while the other CPU idles: measured on a
300,000-entry ledger, 1.6 µs an entry in such runs against 1.1 µs with a CPU each.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import bot
from bot.ledger.range_check import check_range
from bot.ledger.range_worker import RECORD, Result, parse_line, take_chunks
from bot.ledger.read_only import read_only_uri

PARALLEL_FROM = 60_000  # below this, starting helper processes costs more than it saves
CHUNK = 8192  # entries per chunk at least: small enough to share out evenly, large enough
# that the per-chunk overhead (a pipe read, a line of output) does not show
MAX_CHUNKS = 256  # 4 KiB of records: within one page, the smallest a pipe's buffer can be, so
# writing them all before anyone reads never blocks
TAKES_CHUNKS = True  # the asking process checks chunks as well; tests switch it off to make
# the helpers do all of it


def usable_cpus() -> list[int]:
    """The CPUs this thread may run on, in order; empty where the OS does not say (not Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return []


def helper_count() -> int:
    """CPUs this process may run on; each one beyond the first runs a helper."""
    return len(usable_cpus()) or os.cpu_count() or 1


def place(pid: int, cpus: list[int], index: int) -> None:
    """Keep process `pid` (0: this thread) on the index-th usable CPU, round."""
    if cpus:
        pin(pid, {cpus[index % len(cpus)]})


def pin(pid: int, cpus: set[int]) -> None:
    """sched_setaffinity, where there is one. A process that has already exited, or CPUs
    taken away meanwhile (a cgroup's cpuset), leave the placing to the OS."""
    if hasattr(os, "sched_setaffinity"):
        with suppress(OSError):
            os.sched_setaffinity(pid, cpus)


@contextmanager
def own_cpu(cpus: list[int]) -> Iterator[None]:
    """This thread on the first usable CPU for the check, and back on all of them afterwards:
    verification runs on a worker thread that other work reuses."""
    place(0, cpus, 0)
    try:
        yield
    finally:
        if cpus:
            pin(0, set(cpus))


def chunks(count: int, size: int) -> list[tuple[int, int]]:
    """1..count in consecutive ranges of `size` entries (the last may be shorter)."""
    return [(low, min(low + size - 1, count)) for low in range(1, count + 1, size)]


def chunk_size(count: int) -> int:
    return max(CHUNK, -(-count // MAX_CHUNKS))


Vouched = tuple[str, str] | int
"""(first prev_hash, last hash) when entries 1..count are all intact and linked; otherwise the
first seq this check cannot vouch for, where a careful walk has to begin."""


def check_all(
    conn: sqlite3.Connection, path: Path, count: int, *, uri: str | None = None
) -> Vouched:
    """check_range over 1..count, with helper processes for large ledgers."""
    cpus = usable_cpus()
    parts = min(helper_count(), max(1, count // (PARALLEL_FROM // 2)))
    if parts <= 1 or os.name != "posix":  # pass_fds, and pipes shared this way, are POSIX
        return check_range(conn, 1, count) or 1
    pieces = chunks(count, chunk_size(count))
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"".join(RECORD.pack(low, high) for low, high in pieces))
    finally:
        os.close(write_end)  # the helpers see the end of the pipe once it is empty
    results: dict[tuple[int, int], Result] = {}
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        for helper in start_helpers(parts - 1, uri or read_only_uri(path), read_end, cpus):
            helpers.append(helper)  # one by one, so an error part way still stops those started
        if TAKES_CHUNKS:
            with own_cpu(cpus):
                for low, high, result in take_chunks(conn, read_end):
                    results[low, high] = result
                    if result is None:  # the walk will name it; leave the rest unchecked
                        while os.read(read_end, 4096):
                            pass
    except BaseException:
        for helper in helpers:  # the check has failed: their chunks are of no use now
            helper.kill()
            helper.communicate()
        raise
    finally:
        os.close(read_end)
    for helper in helpers:
        out, _ = helper.communicate()
        for line in out.decode("utf-8", "replace").splitlines():
            parsed = parse_line(line)
            if parsed is not None:
                results[parsed[0], parsed[1]] = parsed[2]
    return vouch(pieces, results)


def start_helpers(
    count: int, uri: str, read_end: int, cpus: list[int]
) -> Iterator[subprocess.Popen[bytes]]:
    """Up to `count` helpers reading chunks from `read_end`, each placed on a CPU of its own
    (the asking thread keeps the first). Fewer when no interpreter can be started."""
    source = str(Path(bot.__file__).resolve().parent.parent)  # where `bot` is importable from
    env = {**os.environ, "PYTHONPATH": source}
    command = [sys.executable, "-S", "-m", "bot.ledger.range_worker", uri, str(read_end)]
    for index in range(1, count + 1):
        try:
            helper = subprocess.Popen(
                command, stdout=subprocess.PIPE, pass_fds=(read_end,), env=env
            )
        except OSError:  # no interpreter to start (an embedded Python): fewer hands
            return
        place(helper.pid, cpus, index)
        yield helper


def vouch(pieces: list[tuple[int, int]], results: dict[tuple[int, int], Result]) -> Vouched:
    """Chunks that are intact in themselves, linked end to start, make one intact chain. The
    first chunk that failed, was never reported (a helper that could not start or died), or
    does not link to the one before is where vouching stops: every entry before it is intact."""
    first: str | None = None
    last: str | None = None
    for piece in pieces:
        result = results.get(piece)
        if result is None or (last is not None and result[0] != last):
            return piece[0]
        first = first if first is not None else result[0]
        last = result[1]
    return (first, last) if first is not None and last is not None else 1
