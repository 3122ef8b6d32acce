"""What every command needs: the store, the acting person, and plain output."""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.errors import UserError
from bot.ledger.open import open_store, sqlite_path
from bot.ledger.store import LedgerStore


@asynccontextmanager
async def opened_store(settings: Settings, *, existing: bool = False) -> AsyncIterator[LedgerStore]:
    """With `existing`, a ledger that is not there is an error rather than a new, empty one:
    `ledger verify` with a mistyped --db would otherwise create a file and call it intact."""
    if existing:
        path = sqlite_path(settings.runbook_db_url)
        if not await asyncio.to_thread(path.is_file):
            raise UserError(
                f"There is no ledger at {path}; check --db or RUNBOOK_DB_URL "
                "(`runbook-bot publish` or `serve` creates one)."
            )
    store = await open_store(settings)
    try:
        yield store
    finally:
        await store.close()


def acting_person(explicit: str | None) -> str:
    """`--as` wins; then RUNBOOK_AUTHOR; then the login name."""
    if explicit:
        return explicit
    from_env = os.environ.get("RUNBOOK_AUTHOR", "").strip()
    if from_env:
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
