"""The SQL that writes sealed entries and the read-model rows they add (runs index, published
versions, defaults), for the caller's write transaction: a conflicting row rejects the whole
append. Building the statements is pure, so the event loop can do it before the database
thread wakes; the thread then only executes them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from bot.ledger.chain import Entry
from bot.ledger.projections import rows_for, run_index_change
from bot.ledger.verification import ENTRY_COLUMNS

ROWS_PER_INSERT = 500  # 9 parameters a row: far below SQLite's 32,766 bound variables

Statement = tuple[str, Sequence[Any]]


@lru_cache(maxsize=64)  # the group sizes seen lately; a 500-row statement is 15 kB
def _insert_sql(rows: int) -> str:
    """One INSERT of `rows` entries."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO ledger_entries ({ENTRY_COLUMNS}) VALUES {values}"


def entry_statements(entries: Sequence[Entry]) -> list[Statement]:
    """The statements that insert sealed entries and their index rows, the entries in as few
    statements as possible. At each statement the database thread gives up the GIL, and
    winning it back from a busy event loop can take milliseconds: 40 appends of 2 entries that
    arrived together while a coroutine kept the loop busy took 40 ms with a statement each and
    12 ms this way (with a 0.1 ms switch interval; at the default 5 ms, both took seconds)."""
    statements: list[Statement] = []
    for start in range(0, len(entries), ROWS_PER_INSERT):
        chunk = entries[start : start + ROWS_PER_INSERT]
        values = [value for entry in chunk for value in entry]
        statements.append((_insert_sql(len(chunk)), values))
    for entry in entries:
        statements.extend(_index_run(entry))
        for table, row in rows_for(entry):
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            statements.append(
                (f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
            )
    return statements


def execute_all(db: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    for sql, parameters in statements:
        db.execute(sql, parameters)


def write_entries(db: sqlite3.Connection, entries: Sequence[Entry]) -> None:
    """Insert sealed entries and their index rows."""
    execute_all(db, entry_statements(entries))


def _index_run(entry: Entry) -> list[Statement]:
    change = run_index_change(entry)
    if change is None:
        return []
    mode, row = change
    if mode == "insert":
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        return [(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(row.values()))]
    return [
        (
            "UPDATE runs SET status = ?, last_seq = ? WHERE run_id = ?",
            (row["status"], row["last_seq"], row["run_id"]),
        )
    ]
