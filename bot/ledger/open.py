"""Open the store a database URL names."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.errors import UserError
from bot.ledger.sqlite_store import SqliteStore
from bot.ledger.store import LedgerStore


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative.db`, `sqlite:////abs/file.db`, or a plain file path."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise UserError(
            f"RUNBOOK_DB_URL uses {scheme!r}, which this version does not support; "
            "use sqlite:///path/to/file.db."
        )
    return Path(url)


async def open_store(
    settings: Settings, *, read_only: bool = False, create: bool = True
) -> LedgerStore:
    """`read_only`: a ledger that must be there already, opened without changing the file.
    Without `create`: a ledger that must be there already."""
    path = sqlite_path(settings.runbook_db_url)
    return await SqliteStore.open(
        path, synchronous=settings.runbook_sqlite_synchronous, read_only=read_only, create=create
    )
