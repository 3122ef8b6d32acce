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
from types import TracebackType

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


class Immediate:
    """A write transaction: BEGIN IMMEDIATE under this process's lock for the file, then
    COMMIT, or ROLLBACK on error. A class rather than a generator-based context manager: every
    durable append runs one, right after its thread wakes, where each call frame costs."""

    __slots__ = ("_conn", "_lock")

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                if self._conn.in_transaction:  # SQLite ends it itself after some errors
                    self._conn.execute("ROLLBACK")
                return
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # a COMMIT that failed (say, SQLITE_BUSY) leaves
                    self._conn.execute("ROLLBACK")  # it open: the next writer would fail on it
                raise
        finally:
            self._lock.release()
