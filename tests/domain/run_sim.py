"""Drive the pure run commands the way the service does, without a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain import run_commands
from bot.domain.run_commands import Context, Pending
from bot.domain.run_state import Event, RunState, fold
from bot.domain.runbook import Runbook
from bot.domain.validation import validate_runbook
from bot.domain.versions import content_hash

EXAMPLES = Path(__file__).resolve().parents[2] / "runbooks"


def load(name: str) -> Runbook:
    path = EXAMPLES / f"{name}.yml"
    parsed = validate_runbook(str(path), path.read_text(encoding="utf-8"))
    assert parsed.model is not None, parsed.problems
    return parsed.model


def parse(text: str) -> Runbook:
    parsed = validate_runbook("t.yml", text)
    assert parsed.model is not None, parsed.problems
    return parsed.model


@dataclass
class Sim:
    runbook: Runbook
    requester: str = "U_REQ"
    params: dict[str, str] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    events: list[Event] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pending, self.secrets = run_commands.start(
            run_id="run-0000abcd",
            runbook=self.runbook,
            number=1,
            sha256=content_hash(self.runbook),
            requester=self.requester,
            channel="C1",
            given=self.params,
            now=self.now,
        )
        self.record(pending)

    @property
    def ctx(self) -> Context:
        return Context(self.runbook, self.now, self.secrets)

    @property
    def state(self) -> RunState:
        return fold("run-0000abcd", self.events)

    def record(self, pending: list[Pending]) -> list[Pending]:
        for p in pending:
            self.events.append(
                Event(p.kind.value, p.actor, p.payload, self.now, len(self.events) + 1)
            )
        return pending

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def wait(self, **delta: float) -> None:
        self.now += timedelta(**delta)
