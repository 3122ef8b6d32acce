"""`ledger verify` on one snapshot of a SQLite ledger, through a connection of its own.

The store's appends all go through its one database thread, and every click's ack waits for
its append. Verifying a large ledger takes seconds, so it must not run on that thread: here it
has its own connection (on a thread of the caller's choosing) and reads one snapshot of the
file while appends go on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from bot.ledger.chain import GENESIS_PREV, LOOKBACK, Entry, Verdict, verify_chain
from bot.ledger.checkpoints import IS_CHECKPOINT_SQL, Checkpoint
from bot.ledger.parallel_check import check_all
from bot.ledger.read_only import read_only_uri
from bot.ledger.write_lock import Transaction

ENTRY_COLUMNS = ", ".join(Entry._fields)  # in Entry's order: Entry(*row), and an entry is its row


def verify_file(path: Path, busy_timeout_s: float) -> Verdict:
    """Verify the ledger in this file as it is now; appends made meanwhile are not seen."""
    uri = read_only_uri(path)  # worked out once, for this connection and every helper's
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_s)
    try:
        with Transaction(conn, "BEGIN DEFERRED"):
            return verify_snapshot(conn, path, uri)
    finally:
        conn.close()


def verify_snapshot(conn: sqlite3.Connection, path: Path, uri: str) -> Verdict:
    verdict = _fast_chain_check(conn, path, uri)
    if isinstance(verdict, int):  # something is wrong from there on: walk slowly to name it
        verdict = _walk_from(conn, verdict)
        if not verdict.ok:
            return verdict
        # A false alarm (a NUL inside a field defeats the fast check): go on to checkpoints.
    checkpoints = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE {IS_CHECKPOINT_SQL} ORDER BY seq"
    )
    for entry in [Entry(*row) for row in checkpoints]:
        problem = _checkpoint_problem(conn, Checkpoint.from_dict(entry.data))
        if problem:
            return Verdict(verdict.entries, verdict.head_seq, verdict.head_hash, entry.seq, problem)
    return verdict


def _fast_chain_check(conn: sqlite3.Connection, path: Path, uri: str) -> Verdict | int:
    """Re-hash every entry with SQLite building the bytes. An intact chain's verdict, or the
    first seq it cannot vouch for (every entry before that one is intact and linked).
    check_all finds gaps itself, so the size is max(seq), read from the end of the b-tree."""
    (count,) = conn.execute("SELECT max(seq) FROM ledger_entries").fetchone()
    if not count:
        return 1
    result = check_all(conn, path, count, uri=uri)
    if isinstance(result, int):
        return result
    if result[0] != GENESIS_PREV:
        return 1
    return Verdict(count, count, result[1])


def _walk_from(conn: sqlite3.Connection, start: int) -> Verdict:
    """The careful walk, from the first entry the fast check could not vouch for. It starts
    with the few entries before that one, which the walk keeps to diagnose what it finds, so
    its verdict is the one a walk from the genesis entry would give, sooner."""
    before = [
        Entry(*row)
        for row in conn.execute(
            f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq",
            (start - LOOKBACK, start),
        )
    ]
    return verify_chain(_entries(conn, start), before=before)


def _entries(conn: sqlite3.Connection, start: int) -> Iterator[Entry]:
    cursor = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq >= ? ORDER BY seq", (start,)
    )
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
