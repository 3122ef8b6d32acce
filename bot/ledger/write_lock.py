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
from pathlib import Path
from types import TracebackType

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def write_lock(path: Path) -> threading.Lock:
    """The lock every writer to `path` in this process takes."""
    key = str(path.resolve())
    with _guard:
        return _locks.setdefault(key, threading.Lock())


class Transaction:
    """`begin`, then COMMIT, or ROLLBACK on error. A COMMIT that fails (SQLITE_BUSY, a deferred
    constraint) leaves SQLite's transaction open, and the connection's next BEGIN would fail on
    it, so it is rolled back too. A class rather than a generator-based context manager: every
    durable append runs one, right after its thread wakes, where each call frame costs."""

    __slots__ = ("_begin", "_conn")

    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self._conn = conn
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute(self._begin)
        return self._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._commit()
            else:
                self._rollback()
        finally:
            self._ended()

    def _commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:  # SQLite ends it itself after some errors
            self._conn.execute("ROLLBACK")

    def _ended(self) -> None:
        """Whatever else ends with the transaction, committed or not."""


class Immediate(Transaction):
    """A write transaction: BEGIN IMMEDIATE under this process's lock for the file."""

    __slots__ = ("_lock",)

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        super().__init__(conn, "BEGIN IMMEDIATE")
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            return super().__enter__()
        except BaseException:
            self._lock.release()
            raise

    def _ended(self) -> None:
        self._lock.release()
