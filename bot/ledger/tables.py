"""Table definitions. Every table is append-only; the SQLite store adds triggers to enforce it."""

from __future__ import annotations

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class LedgerEntryRow(SQLModel, table=True):
    """One chained entry. (run_id, run_version) is unique: a run's next event is conditional."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("run_id", "run_version", name="uq_run_version"),)

    seq: int = Field(primary_key=True)
    ts: str
    run_id: str | None = Field(default=None, index=True)
    run_version: int | None = None
    kind: str
    actor: str
    payload: str
    prev_hash: str
    hash: str = Field(unique=True)


class RunbookVersionRow(SQLModel, table=True):
    """A published runbook version, projected from its `runbook.published` entry."""

    __tablename__ = "runbook_versions"

    name: str = Field(primary_key=True)
    number: int = Field(primary_key=True)
    sha256: str = Field(unique=True)
    source: str
    author: str
    message: str
    published_at: str
    seq: int = Field(unique=True)


class RunbookDefaultRow(SQLModel, table=True):
    """The history of default versions; the latest row per name is the current default."""

    __tablename__ = "runbook_defaults"

    seq: int = Field(primary_key=True)
    name: str = Field(index=True)
    number: int


APPEND_ONLY_TABLES = ("ledger_entries", "runbook_versions", "runbook_defaults")


class RunIndexRow(SQLModel, table=True):
    """Which runs exist and whether they are active: a restart reads this, not the history.
    Derived from run.started / run.completed / run.aborted in the same transaction; not chained."""

    __tablename__ = "runs"

    run_id: str = Field(primary_key=True)
    runbook: str = Field(index=True)
    channel: str
    requester: str
    status: str = Field(index=True)
    started_seq: int
    last_seq: int  # the entry that last set `status`: the start, completion or abort


INDEX_TABLES = ("runs",)
