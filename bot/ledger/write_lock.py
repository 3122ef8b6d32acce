"""One writer at a time per SQLite file within this process, queued on a Python lock.

The ledger and the Slack delivery bookkeeping share a file and write from separate threads.
Left to SQLite, a writer that finds the file locked sleeps in the busy handler for up to
100 ms at a time even when the lock frees sooner; that sleep landed on acknowledgements.
Queuing on a lock here wakes the next writer the moment the last one commits. Other processes
(replicas on one file) still meet SQLite's busy timeout, as before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def write_lock(path: Path) -> threading.Lock:
    """The lock every writer to `path` in this process takes."""
    key = str(path.resolve())
    with _guard:
        return _locks.setdefault(key, threading.Lock())


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    """`begin`, then COMMIT, or ROLLBACK on error."""
    conn.execute(begin)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def immediate(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """A write transaction: BEGIN IMMEDIATE under this process's lock for the file."""
    with lock, transaction(conn, "BEGIN IMMEDIATE"):
        yield conn
