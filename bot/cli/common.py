"""What every command needs: the store, the acting person, and plain output."""

from __future__ import annotations

import getpass
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.ledger.open import open_store
from bot.ledger.store import LedgerStore


@asynccontextmanager
async def opened_store(
    settings: Settings, *, existing: bool = False, read_only: bool = False
) -> AsyncIterator[LedgerStore]:
    """`existing`: a ledger that is not there is an error rather than a new, empty one (a
    mistyped --db must not become a ledger that `ledger verify` calls intact). `read_only`
    (implies `existing`): for commands that only look; nothing in the file changes."""
    store = await open_store(settings, read_only=read_only, create=not existing)
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
