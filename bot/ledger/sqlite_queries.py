"""What the SQLite store reads: entries, and the read model its appends keep (published
versions, defaults, the runs index). Functions of a connection, run on the store's database
thread."""

from __future__ import annotations

import sqlite3
from typing import Any

from bot.domain.versions import VersionInfo
from bot.ledger.chain import Entry
from bot.ledger.verification import ENTRY_COLUMNS


def head(db: sqlite3.Connection) -> tuple[int, str]:
    """(seq, hash) of the last entry; (0, 64 zeros) when there is none."""
    row = db.execute("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "0" * 64)


def entries(
    db: sqlite3.Connection, after: int, run_id: str | None, limit: int | None
) -> list[Entry]:
    sql = f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq > ?"
    args: list[Any] = [after]
    if run_id is not None:
        sql += " AND run_id = ?"
        args.append(run_id)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [Entry(*row) for row in db.execute(sql, args)]


def versions(db: sqlite3.Connection, name: str) -> list[VersionInfo]:
    rows = db.execute(
        "SELECT name, number, sha256, source, author, message, published_at, seq "
        "FROM runbook_versions WHERE name = ? ORDER BY number",
        (name,),
    )
    return [VersionInfo(*row) for row in rows]


def default_number(db: sqlite3.Connection, name: str) -> int | None:
    row = db.execute(
        "SELECT number FROM runbook_defaults WHERE name = ? ORDER BY seq DESC LIMIT 1", (name,)
    ).fetchone()
    return int(row[0]) if row else None


def runbook_names(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT DISTINCT name FROM runbook_versions ORDER BY name")]


def runs(db: sqlite3.Connection, status: str | None, with_start: bool) -> list[dict[str, Any]]:
    sql = "SELECT r.run_id, r.runbook, r.channel, r.requester, r.status, r.started_seq, r.last_seq"
    if with_start:
        sql += (
            ", e.ts AS started_at, json_extract(e.payload, '$.number') AS number"
            " FROM runs r JOIN ledger_entries e ON e.seq = r.started_seq"
        )
    else:
        sql += " FROM runs r"
    args: tuple[str, ...] = ()
    if status is not None:
        sql, args = sql + " WHERE r.status = ?", (status,)
    cursor = db.execute(sql + " ORDER BY r.started_seq", args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]
