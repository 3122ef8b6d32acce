"""The write transaction every writer to a ledger file runs: its lock and its ending."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.ledger.write_lock import Immediate, Transaction


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    return conn


def test_a_commit_that_fails_rolls_back_and_frees_the_lock(tmp_path: Path) -> None:
    """A deferred constraint fails at COMMIT, which leaves SQLite's transaction open; the
    next writer must not find it half done, nor the lock still held."""
    conn, lock = _db(tmp_path / "t.db"), threading.Lock()
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), Immediate(conn, lock) as db:
        db.execute("INSERT INTO child (parent_id) VALUES (7)")
    assert not conn.in_transaction
    assert lock.acquire(blocking=False)
    lock.release()
    with Immediate(conn, lock) as db:  # the next writer starts afresh
        db.execute("INSERT INTO parent (id) VALUES (7)")
        db.execute("INSERT INTO child (parent_id) VALUES (7)")
    assert conn.execute("SELECT count(*) FROM child").fetchone() == (1,)


def test_an_error_inside_rolls_back_and_frees_the_lock(tmp_path: Path) -> None:
    conn, lock = _db(tmp_path / "t.db"), threading.Lock()
    with pytest.raises(RuntimeError), Immediate(conn, lock) as db:
        db.execute("INSERT INTO parent (id) VALUES (1)")
        raise RuntimeError("the caller failed")
    assert conn.execute("SELECT count(*) FROM parent").fetchone() == (0,)
    assert not conn.in_transaction and not lock.locked()


def test_a_plain_transaction_whose_commit_fails_is_rolled_back(tmp_path: Path) -> None:
    """The lockless transaction (verification's read snapshot) ends the same way."""
    conn = _db(tmp_path / "t.db")
    with pytest.raises(sqlite3.IntegrityError), Transaction(conn, "BEGIN DEFERRED") as db:
        db.execute("INSERT INTO child (parent_id) VALUES (3)")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM child").fetchone() == (0,)
