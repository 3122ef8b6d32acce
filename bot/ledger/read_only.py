"""Opening a ledger file only to read it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.errors import UserError


def read_only_uri(path: Path) -> str:
    """The file as a read-only SQLite URI. Checking or reading a ledger never changes it, not
    even by the WAL checkpoint a last read-write connection makes as it closes: an auditor's
    copy stays byte for byte as it was handed over.

    To read a WAL-mode file SQLite creates an empty `-wal` beside it when there is none. In a
    directory where it cannot (a read-only mount, evidence on read-only media) the file is
    opened as immutable instead: with no write-ahead log there, the file alone is the ledger.
    A `-wal` that is there is always read, so this never hides entries."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        probe = sqlite3.connect(uri, uri=True)
        try:
            probe.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        finally:
            probe.close()
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc) or path.with_name(f"{path.name}-wal").is_file():
            raise
        return f"{uri}&immutable=1"
    return uri


def no_ledger(path: Path) -> UserError:
    """A command that needs a ledger was pointed at a file that is not there."""
    return UserError(
        f"There is no ledger at {path}; check --db or RUNBOOK_DB_URL "
        "(`runbook-bot publish` or `serve` creates one)."
    )
