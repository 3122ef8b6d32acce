"""The verification fast path: re-hash a range of entries with SQLite building the bytes.

Measured on a 300,000-entry ledger: building each entry's bytes in SQLite and comparing whole
batches of digests is about twice as fast as decoding rows into Entry objects. On any fault the
caller walks the chain again with `chain.verify_chain`, which names what went wrong.
"""

from __future__ import annotations

import hashlib
import sqlite3

# chain.hash_message, built by SQLite in C.
_HASH_MESSAGE_SQL = (
    "CAST(prev_hash || char(10) || seq || char(10) || ts || char(10) || ifnull(run_id, '') || char(10)"
    " || ifnull(run_version, '') || char(10) || kind || char(10) || actor || char(10) || payload AS BLOB)"
)


def check_range(conn: sqlite3.Connection, low: int, high: int) -> tuple[str, str] | None:
    """(first prev_hash, last hash) of entries low..high if each hashes right and links to the
    one before it; None otherwise."""
    cursor = conn.execute(
        f"SELECT prev_hash, hash, {_HASH_MESSAGE_SQL} FROM ledger_entries "
        "WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (low, high),
    )
    sha256 = hashlib.sha256
    first: str | None = None
    last = ""
    while rows := cursor.fetchmany(4096):
        prevs, digests, messages = zip(*rows, strict=True)
        if [sha256(m).hexdigest() for m in messages] != list(digests):
            return None
        if first is None:
            first = prevs[0]
        elif prevs[0] != last:
            return None
        if prevs[1:] != digests[:-1]:
            return None
        last = digests[-1]
    return (first, last) if first is not None else None
