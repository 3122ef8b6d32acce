"""Opening a ledger file only to read it."""

from __future__ import annotations

from pathlib import Path

from bot.errors import UserError


def read_only_uri(path: Path) -> str:
    """The file as a read-only SQLite URI. Checking or reading a ledger never changes it, not
    even by the WAL checkpoint a last read-write connection makes as it closes: an auditor's
    copy stays byte for byte as it was handed over."""
    return f"{path.resolve().as_uri()}?mode=ro"


def no_ledger(path: Path) -> UserError:
    """A command that needs a ledger was pointed at a file that is not there."""
    return UserError(
        f"There is no ledger at {path}; check --db or RUNBOOK_DB_URL "
        "(`runbook-bot publish` or `serve` creates one)."
    )
