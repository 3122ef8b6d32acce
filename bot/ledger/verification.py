"""`ledger verify` on one snapshot of a SQLite ledger, through a connection of its own.

The store's appends all go through its one database thread, and every click's ack waits for
its append. Verifying a large ledger takes seconds, so it must not run on that thread: here it
has its own connection (on a thread of the caller's choosing) and reads one snapshot of the
file while appends go on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

from bot.ledger.chain import GENESIS_PREV, Entry, Verdict, verify_chain
from bot.ledger.checkpoints import IS_CHECKPOINT_SQL, Checkpoint
from bot.ledger.parallel_check import check_all
from bot.ledger.write_lock import transaction

ENTRY_COLUMNS = ", ".join(f.name for f in fields(Entry))  # in Entry's order, for Entry(*row)


def verify_file(path: Path, busy_timeout_s: float) -> Verdict:
    """Verify the ledger in this file as it is now; appends made meanwhile are not seen."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s)
    try:
        conn.execute("PRAGMA query_only = ON")
        with transaction(conn, "BEGIN DEFERRED"):
            return verify_snapshot(conn, path)
    finally:
        conn.close()


def verify_snapshot(conn: sqlite3.Connection, path: Path) -> Verdict:
    verdict = _fast_chain_check(conn, path)
    if verdict is None:  # something is wrong: walk again slowly to name it
        return verify_chain(_all_entries(conn))
    checkpoints = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE {IS_CHECKPOINT_SQL} ORDER BY seq"
    )
    for entry in [Entry(*row) for row in checkpoints]:
        problem = _checkpoint_problem(conn, Checkpoint.from_dict(entry.data))
        if problem:
            return Verdict(verdict.entries, verdict.head_seq, verdict.head_hash, entry.seq, problem)
    return verdict


def _fast_chain_check(conn: sqlite3.Connection, path: Path) -> Verdict | None:
    """Re-hash every entry with SQLite building the bytes; None at the first fault.
    check_all finds gaps itself, so the size is max(seq), read from the end of the b-tree."""
    (count,) = conn.execute("SELECT max(seq) FROM ledger_entries").fetchone()
    if not count:
        return None
    result = check_all(conn, path, count)
    if result is None or result[0] != GENESIS_PREV:
        return None
    return Verdict(count, count, result[1])


def _all_entries(conn: sqlite3.Connection) -> Iterator[Entry]:
    cursor = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM ledger_entries ORDER BY seq")
    cursor.arraysize = 4096
    while rows := cursor.fetchmany():
        for row in rows:
            yield Entry(*row)


def _checkpoint_problem(conn: sqlite3.Connection, checkpoint: Checkpoint) -> str:
    if not checkpoint.signature_valid():
        return "checkpoint signature is invalid"
    row = conn.execute(
        "SELECT hash FROM ledger_entries WHERE seq = ?", (checkpoint.size,)
    ).fetchone()
    if row is None:
        return f"checkpoint names entry {checkpoint.size}, which does not exist"
    if row[0] != checkpoint.head_hash:
        return f"checkpoint says entry {checkpoint.size} has hash {checkpoint.head_hash[:16]}…, the ledger has {row[0][:16]}…"
    return ""
