"""A run as one process sees it: its folded state with the pinned runbook version, or that
plus the entries it appended since, not yet folded."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.run_state import Event, RunState, apply
from bot.domain.runbook import Runbook
from bot.domain.versions import VersionInfo
from bot.ledger.chain import Entry


@dataclass(frozen=True)
class LoadedRun:
    state: RunState
    runbook: Runbook
    version: VersionInfo
    pinned: dict[str, str]

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def run_version(self) -> int:
        return self.state.version


@dataclass(frozen=True)
class Unfolded:
    """A run as this process decided from it, and the entries it appended after: folding
    them waits until a decision needs the result."""

    loaded: LoadedRun
    entries: list[Entry]

    @property
    def run_id(self) -> str:
        return self.loaded.state.run_id

    @property
    def run_version(self) -> int:
        return self.entries[-1].run_version or 0

    def fold(self) -> LoadedRun:
        state = self.loaded.state
        for entry in self.entries:
            state = apply(state, event_of(entry))
        return replace(self.loaded, state=state)


def event_of(entry: Entry) -> Event:
    """A ledger entry as the run state fold takes it."""
    return Event(entry.kind, entry.actor, entry.data, _parse_ts(entry.ts), entry.run_version or 0)


def _parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))
