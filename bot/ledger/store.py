"""The store interface every backend implements; tests/ledger/test_store_contract.py checks it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.domain.versions import VersionInfo
from bot.ledger.chain import Entry, NewEvent, Verdict


class LedgerStore(Protocol):
    async def append(self, events: Sequence[NewEvent]) -> list[Entry]:
        """Append atomically, all or none. A conflicting key raises ConflictError."""
        ...

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry."""
        ...

    async def read(
        self, *, after: int = 0, run_id: str | None = None, limit: int | None = None
    ) -> list[Entry]:
        """Entries in ledger order, optionally those of one run."""
        ...

    async def entry(self, seq: int) -> Entry | None: ...

    async def verify(self) -> Verdict:
        """Re-hash the whole chain and check every checkpoint entry in it."""
        ...

    async def versions(self, name: str) -> list[VersionInfo]:
        """Published versions of one runbook, oldest first."""
        ...

    async def runbook_names(self) -> list[str]: ...

    async def default_number(self, name: str) -> int | None: ...

    async def runs(
        self, *, status: str | None = None, with_start: bool = False
    ) -> list[dict[str, Any]]:
        """The runs index: run_id, runbook, channel, requester, status, started_seq, last_seq;
        with `with_start`, also started_at and number (the version) from each run's first
        entry, in the same query."""
        ...

    async def close(self) -> None: ...
