"""The SQLite backend: WAL, explicit `synchronous`, BEGIN IMMEDIATE appends, append-only triggers.

All database work runs on one dedicated thread that owns the connection, so the async API
never blocks the event loop and each append is a single transaction in a single hop. What it
reads is in sqlite_queries.py, and the statements an append runs in sqlite_rows.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Synchronous
from bot.domain.versions import VersionInfo
from bot.errors import ConflictError, UserError
from bot.ledger import sqlite_queries as queries
from bot.ledger.chain import (
    Entry,
    NewEvent,
    Prepared,
    Verdict,
    genesis_event,
    prepare,
    seal,
    seal_groups,
)
from bot.ledger.clock import utc_now
from bot.ledger.db_thread import DbThread
from bot.ledger.read_only import no_ledger, read_only_uri
from bot.ledger.sqlite_rows import Statement, entry_statements, execute_all, write_entries
from bot.ledger.verification import verify_file
from bot.ledger.write_lock import Immediate, write_lock

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000
# ddl.fingerprint(ddl.schema_statements()): a file that holds it in `PRAGMA user_version` has
# every table, index and trigger, so opening it needs no DDL, nor SQLAlchemy to build it.
# tests/ledger/test_schema.py fails, naming the new value, when the tables change.
SCHEMA_VERSION = 0xD3C6FC2
# The fingerprints of earlier releases' tables, which this bot brings up to date when it opens
# their files. Any other number was written by a newer bot, whose tables this one would not
# keep up (an index it does not know would miss the entries it appends), so it is refused.
EARLIER_SCHEMAS: frozenset[int] = frozenset()


Outcome = list[Entry] | ConflictError
Waiting = tuple[Sequence[Prepared], asyncio.Future[list[Entry]]]  # an append and its caller


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> UserError:
    return UserError(f"{path} is not a usable SQLite database: {exc}.")


def _conflict(exc: sqlite3.IntegrityError) -> ConflictError:
    return ConflictError(f"Another writer got there first ({exc}); reload and decide again.")


def _head_after(outcomes: Sequence[Outcome | BaseException]) -> tuple[int, str] | None:
    """The head a commit left: its last appended entry. None (read it again) when nothing
    was appended, since the head may then be another process's entry."""
    for outcome in reversed(outcomes):
        if isinstance(outcome, list):
            return outcome[-1].seq, outcome[-1].hash
    return None


class SqliteStore:
    """A LedgerStore on one SQLite file."""

    def __init__(self, path: Path, synchronous: Synchronous, clock: Callable[[], str]) -> None:
        self.path = path
        self._synchronous = synchronous
        self._clock = clock
        self._thread = DbThread("sqlite-ledger")
        self._conn: sqlite3.Connection | None = None
        self._write_lock = write_lock(path)
        # Appends waiting for the next group commit, and the task committing them.
        self._queued: list[Waiting] = []
        self._committing: list[Waiting] | None = None  # the group on the database thread
        self._drained: asyncio.Future[None] | None = None  # close() waits on it
        # The chain's head (seq, hash) after this store's last commit, or None when unknown
        # (at first, and after a failed commit). See _commit_next.
        self._head: tuple[int, str] | None = None
        self.commits = 0  # append transactions committed: how well appends are grouped

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = Synchronous.FULL,
        clock: Callable[[], str] = utc_now,
        read_only: bool = False,
        create: bool = True,
    ) -> SqliteStore:
        """`read_only` is for commands that only look (verify, export, versions): the file
        must hold a ledger already, and nothing in it changes. Without `create`, a file that
        is not there is an error, not a new ledger (a mistyped --db)."""
        store = cls(path, synchronous, clock)
        opening = store._open_read_only_sync if read_only else partial(store._open_sync, create)
        try:
            await store._run(opening)
        except BaseException:
            await store._run(store._close_sync)
            await store._thread.stop()
            raise
        return store

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._thread.run(partial(fn, *args))

    # ---- on the database thread -----------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None, "store is closed"
        return self._conn

    def _open_sync(self, create: bool = True) -> None:
        if not create and not self.path.is_file():
            raise no_ledger(self.path)
        if not self.path.parent.exists():
            raise UserError(
                f"The database directory {self.path.parent} does not exist; create it or set RUNBOOK_DB_URL."
            )
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous.value}")
        except sqlite3.DatabaseError as exc:
            raise _unusable(self.path, exc) from None
        self._conn = conn
        if self._schema_current() and self._has_genesis():
            return  # the usual start: no write lock to wait for behind other writers
        with self._transaction():  # a new or older file; another process may be here too
            self._refuse_newer_schema()
            if not self._schema_current():
                from bot.ledger.ddl import schema_statements  # only here: see ddl.py

                for statement in schema_statements():
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if not self._has_genesis():
                self._append_locked(prepare([genesis_event()]))

    def _open_read_only_sync(self) -> None:
        if not self.path.is_file():
            raise no_ledger(self.path)
        try:
            conn = sqlite3.connect(
                read_only_uri(self.path),
                uri=True,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.DatabaseError as exc:
            raise _unusable(self.path, exc) from None
        try:
            has_ledger = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_entries'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _unusable(self.path, exc) from None
        if has_ledger is None:
            conn.close()
            raise UserError(
                f"{self.path} is a SQLite database but holds no runbook-bot ledger; "
                "check --db or RUNBOOK_DB_URL."
            )
        self._conn = conn

    def _schema(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _schema_current(self) -> bool:
        return self._schema() == SCHEMA_VERSION

    def _refuse_newer_schema(self) -> None:
        schema = self._schema()
        if schema in (0, SCHEMA_VERSION) or schema in EARLIER_SCHEMAS:  # 0: a new file, or
            return  # one from before fingerprints
        raise UserError(
            f"{self.path} was written by a newer runbook-bot (its tables are version "
            f"0x{schema:X}; this one knows 0x{SCHEMA_VERSION:X}). Upgrade runbook-bot to open "
            "it for writing; `ledger verify` and `ledger export` still read it."
        )

    def _has_genesis(self) -> bool:
        # Not COUNT(*): that reads the whole table, and this runs at every start.
        return self._db.execute("SELECT 1 FROM ledger_entries LIMIT 1").fetchone() is not None

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction: takes the write lock at once, so writers queue, never deadlock."""
        return Immediate(self._db, self._write_lock)

    def _append_locked(
        self, events: Sequence[Prepared], head: tuple[int, str] | None = None
    ) -> list[Entry]:
        """Append after `head` (seq, hash), read from the file when not given. Only a caller
        inside the same write transaction may pass it: no one else can append meanwhile."""
        head_seq, head_hash = head if head is not None else queries.head(self._db)
        entries = seal(events, head_seq=head_seq, head_hash=head_hash, ts=self._clock())
        write_entries(self._db, entries)
        return entries

    def _append_sync(self, events: Sequence[Prepared]) -> list[Entry]:
        try:
            with self._transaction():
                return self._append_locked(events)
        except sqlite3.IntegrityError as exc:
            raise _conflict(exc) from None

    def _append_group_sync(self, groups: Sequence[Sequence[Prepared]]) -> list[Outcome]:
        """Several callers' appends in one transaction, so they share one commit (one fsync
        under synchronous=FULL). Each keeps its own atomicity: when any of them conflicts, the
        group is undone and appended one by one, each in a savepoint, so a conflict refuses
        that append alone. A failed commit fails them all, and none is acknowledged."""
        if len(groups) == 1:
            try:
                return [self._append_sync(groups[0])]
            except ConflictError as exc:
                return [exc]
        with self._transaction():
            self._db.execute("SAVEPOINT together")
            try:
                together = self._append_together(groups)
            except sqlite3.IntegrityError:  # a conflict (a double click, a lost race)
                self._db.execute("ROLLBACK TO together")
            else:
                self._db.execute("RELEASE together")
                return list(together)
            self._db.execute("RELEASE together")
            return self._append_one_by_one(groups)

    def _append_together(self, groups: Sequence[Sequence[Prepared]]) -> list[list[Entry]]:
        """Every group sealed in turn (each with its own time) and written at once."""
        sealed = seal_groups(groups, queries.head(self._db), self._clock)
        write_entries(self._db, [entry for entries in sealed for entry in entries])
        return sealed

    def _write_sealed_sync(
        self,
        sealed: list[list[Entry]],
        statements: Sequence[Statement],
        groups: Sequence[Sequence[Prepared]],
    ) -> list[Outcome]:
        """Write appends the loop sealed after the head it last saw. If that head is stale
        (another process appended since, so the first seq is taken) or an append conflicts,
        the write is undone and the appends go the long way: head read here, sealed again,
        each conflict refused alone."""
        try:
            with self._transaction():
                execute_all(self._db, statements)
        except sqlite3.IntegrityError:
            return self._append_group_sync(groups)
        return list(sealed)

    def _append_one_by_one(self, groups: Sequence[Sequence[Prepared]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        head: tuple[int, str] | None = None  # read once, then carried from append to append
        for events in groups:
            self._db.execute("SAVEPOINT one_append")
            try:
                entries = self._append_locked(events, head)
            except sqlite3.IntegrityError as exc:
                self._db.execute("ROLLBACK TO one_append")  # the head stays where it was
                outcomes.append(_conflict(exc))
            else:
                outcomes.append(entries)
                head = (entries[-1].seq, entries[-1].hash)
            self._db.execute("RELEASE one_append")
        return outcomes

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---- the async API ----------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> list[Entry]:
        """Durable when it returns. Appends that arrive while a commit is under way wait for
        it and then commit together: with many clicks at once, one fsync serves them all."""
        if not events:
            return []
        future: asyncio.Future[list[Entry]] = asyncio.get_running_loop().create_future()
        self._queued.append((prepare(events), future))
        self._commit_next()
        return await future

    def _commit_next(self) -> None:
        """Send what is queued to the database thread unless a commit is under way; its
        callback sends the next group. Callbacks, not a task: no extra loop turn per append,
        and a caller that is cancelled cannot strand the others of its group."""
        if self._committing is not None or not self._queued:
            return
        batch = self._committing = self._queued
        self._queued = []
        groups = [events for events, _ in batch]
        self._thread.submit(self._sealed_here(groups), self._committed)

    def _sealed_here(self, groups: list[Sequence[Prepared]]) -> Callable[[], list[Outcome]]:
        """The database thread's work for `groups`, sealed here when this store knows the
        head: after the thread wakes it then only runs the statements. Sealing and building
        them there, cold after each wake-up, cost about a tenth of the durable-append rate."""
        if self._head is not None:
            try:
                sealed = seal_groups(groups, self._head, self._clock)
                statements = entry_statements([e for entries in sealed for e in entries])
            except Exception:  # a malformed payload: the long way below reports it to its
                pass  # callers, as an error from the database thread
            else:
                return partial(self._write_sealed_sync, sealed, statements, groups)
        return partial(self._append_group_sync, groups)

    def _committed(self, result: list[Outcome] | None, error: BaseException | None) -> None:
        batch, self._committing = self._committing or [], None
        self.commits += 1
        outcomes: list[Outcome | BaseException] = (
            [error] * len(batch) if error is not None else list(result or [])
        )
        self._head = _head_after(outcomes)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled; the entry stands all the same
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._commit_next()
        if self._committing is None and self._drained is not None:
            self._drained.set_result(None)
            self._drained = None

    async def head(self) -> tuple[int, str]:
        return await self._run(queries.head, self._db)

    async def read(
        self, *, after: int = 0, run_id: str | None = None, limit: int | None = None
    ) -> list[Entry]:
        return await self._run(queries.entries, self._db, after, run_id, limit)

    async def entry(self, seq: int) -> Entry | None:
        found = await self._run(queries.entries, self._db, seq - 1, None, 1)
        return found[0] if found and found[0].seq == seq else None

    async def verify(self) -> Verdict:
        """On a connection and thread of its own: appends, which every click's ack waits
        for, go on while a large ledger is checked (see verification.py)."""
        return await asyncio.to_thread(verify_file, self.path, BUSY_TIMEOUT_MS / 1000)

    async def versions(self, name: str) -> list[VersionInfo]:
        return await self._run(queries.versions, self._db, name)

    async def runbook_names(self) -> list[str]:
        return await self._run(queries.runbook_names, self._db)

    async def default_number(self, name: str) -> int | None:
        return await self._run(queries.default_number, self._db, name)

    async def runs(
        self, *, status: str | None = None, with_start: bool = False
    ) -> list[dict[str, Any]]:
        return await self._run(queries.runs, self._db, status, with_start)

    async def close(self) -> None:
        if self._committing is not None:  # appends already accepted are committed first
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        await self._run(self._close_sync)
        await self._thread.stop()
