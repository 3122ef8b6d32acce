"""Where each run lives in Slack, and which ledger entries reached it. Mutable delivery state,
kept beside the ledger in the same SQLite file but outside the hash chain."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bot.ledger.db_thread import DbThread
from bot.ledger.sqlite_store import BUSY_TIMEOUT_MS
from bot.ledger.write_lock import Immediate, write_lock

T = TypeVar("T")
SCHEMA = (
    # settled = 1: the run has ended and every entry of it is in its thread, so start-up and the
    # backlog metric never look at it again; history grows, their work does not.
    "CREATE TABLE IF NOT EXISTS slack_threads (run_id TEXT PRIMARY KEY, channel TEXT NOT NULL,"
    " root_ts TEXT NOT NULL, settled INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS slack_posts (run_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,"
    " ts TEXT, PRIMARY KEY (run_id, seq))",
    "CREATE TABLE IF NOT EXISTS slack_cards (run_id TEXT NOT NULL, step_id TEXT NOT NULL, ts TEXT NOT NULL,"
    " PRIMARY KEY (run_id, step_id))",
    "CREATE TABLE IF NOT EXISTS slack_leases (run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL)",
    # The ledger head when start-up last looked: entries after it may belong to settled runs
    # (a note amended after the end) whose post a crash cut short.
    "CREATE TABLE IF NOT EXISTS slack_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)",
)
UNSETTLED_INDEX = "CREATE INDEX IF NOT EXISTS ix_slack_threads_unsettled ON slack_threads (run_id) WHERE settled = 0"

# Entries of unsettled runs not yet in their thread; the partial index keeps this to the runs
# still in play (active, or ended with posts outstanding).
UNSENT = (
    "FROM slack_threads t JOIN ledger_entries e ON e.run_id = t.run_id"
    " LEFT JOIN slack_posts p ON p.run_id = e.run_id AND p.seq = e.seq"
    " WHERE t.settled = 0 AND (p.state IS NULL OR p.state != 'sent')"
)

# Ended runs not settled although every entry is posted: a crash came between the last post and
# the redraw of the cards and root (settling comes after it), so they may still show buttons.
UNFINISHED = (
    "SELECT t.run_id FROM slack_threads t JOIN runs r ON r.run_id = t.run_id"
    " WHERE t.settled = 0 AND r.status != 'active'"
)

SETTLE_ALL_POSTED = (
    "UPDATE slack_threads SET settled = 1 WHERE run_id IN (SELECT run_id FROM runs"
    " WHERE status != 'active') AND NOT EXISTS (SELECT 1 FROM ledger_entries e LEFT JOIN"
    " slack_posts p ON p.run_id = e.run_id AND p.seq = e.seq WHERE e.run_id = slack_threads.run_id"
    " AND (p.state IS NULL OR p.state != 'sent'))"
)


def process_owner() -> str:
    """Who holds a lease: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(owner: str) -> bool:
    """A SQLite file is shared only on one host, so a holder there is checked for life; one
    elsewhere is trusted until its lease expires."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DeliveryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = DbThread("slack-delivery")
        self._held: dict[tuple[str, str], float] = {}  # (run, owner) -> until, for leases we hold
        self._conn: sqlite3.Connection | None = None
        self._write_lock = write_lock(path)

    @classmethod
    async def open(cls, path: Path) -> DeliveryStore:
        store = cls(path)
        await store._run(store._open_sync)
        return store

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await self._thread.run(partial(fn, *args))

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Safe against a crash of the process (WAL), without an fsync per post: these rows are
        # a copy's bookkeeping, and the ledger's own appends stay synchronous=FULL.
        conn.execute("PRAGMA synchronous = NORMAL")
        with Immediate(conn, self._write_lock):
            for statement in SCHEMA:
                conn.execute(statement)
            columns = [row[1] for row in conn.execute("PRAGMA table_info(slack_threads)")]
            if "settled" not in columns:  # a database from before settling: settle it once
                conn.execute(
                    "ALTER TABLE slack_threads ADD COLUMN settled INTEGER NOT NULL DEFAULT 0"
                )
                conn.execute(SETTLE_ALL_POSTED)
            conn.execute(UNSETTLED_INDEX)
            # Every run with entries so far is settled or not as it should be: start looking
            # for late entries from here.
            conn.execute(
                "INSERT OR IGNORE INTO slack_watermark SELECT 1, COALESCE(MAX(seq), 0)"
                " FROM ledger_entries"
            )
        self._conn = conn

    def _q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        return self._conn.execute(sql, args).fetchall()

    def _w(self, sql: str, *args: Any) -> int:
        """One write statement, its own transaction, queued behind this process's writers;
        the rows it changed."""
        assert self._conn is not None
        with self._write_lock:
            return self._conn.execute(sql, args).rowcount

    async def thread(self, run_id: str) -> tuple[str, str] | None:
        """(channel, root ts) of the run's thread, once its root message is known to be in
        Slack (a row with root_ts '' is a root that was being posted, see begin_thread)."""
        rows = await self._run(
            self._q,
            "SELECT channel, root_ts FROM slack_threads WHERE run_id = ? AND root_ts != ''",
            run_id,
        )
        return (rows[0][0], rows[0][1]) if rows else None

    async def begin_thread(self, run_id: str, channel: str) -> bool:
        """Record that the root is about to be posted, so a crash before its ts is stored
        leads the next process to look for it instead of posting a second root. False when
        an earlier process had begun it already: it may or may not be in the channel."""
        inserted = await self._run(
            self._w,
            "INSERT OR IGNORE INTO slack_threads (run_id, channel, root_ts) VALUES (?, ?, '')",
            run_id,
            channel,
        )
        return bool(inserted == 1)

    async def set_thread(self, run_id: str, channel: str, root_ts: str) -> None:
        """The root is in Slack at `root_ts`; a thread already confirmed is never moved."""
        await self._run(
            self._w,
            "INSERT INTO slack_threads (run_id, channel, root_ts) VALUES (?, ?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET channel = excluded.channel,"
            " root_ts = excluded.root_ts WHERE slack_threads.root_ts = ''",
            run_id,
            channel,
            root_ts,
        )

    async def posts(self, run_id: str) -> dict[int, tuple[str, str | None]]:
        """seq -> (state, ts): 'sending' means we may or may not have reached Slack."""
        rows = await self._run(
            self._q, "SELECT seq, state, ts FROM slack_posts WHERE run_id = ?", run_id
        )
        return {int(seq): (state, ts) for seq, state, ts in rows}

    async def mark_sending(self, run_id: str, seq: int) -> None:
        await self._run(
            self._w, "INSERT OR IGNORE INTO slack_posts VALUES (?, ?, 'sending', NULL)", run_id, seq
        )

    async def mark_sent(self, run_id: str, seq: int, ts: str) -> None:
        await self._run(
            self._w,
            "UPDATE slack_posts SET state = 'sent', ts = ? WHERE run_id = ? AND seq = ?",
            ts,
            run_id,
            seq,
        )

    async def card(self, run_id: str, step_id: str) -> str | None:
        rows = await self._run(
            self._q, "SELECT ts FROM slack_cards WHERE run_id = ? AND step_id = ?", run_id, step_id
        )
        return str(rows[0][0]) if rows else None

    async def set_card(self, run_id: str, step_id: str, ts: str) -> None:
        await self._run(
            self._w, "INSERT OR REPLACE INTO slack_cards VALUES (?, ?, ?)", run_id, step_id, ts
        )

    async def lease(self, run_id: str, owner: str, seconds: float) -> bool:
        """Take or renew the right to post this run. Several bot processes on one database
        must not post the same entry twice; a crashed holder's lease is taken over at once."""
        until = self._held.get((run_id, owner), 0.0)
        if until - time.time() > seconds / 2:
            return True  # ours for a while yet: nobody else may take a lease that has not expired
        taken = bool(await self._run(self._lease_sync, run_id, owner, seconds))
        if taken:
            self._held[run_id, owner] = time.time() + seconds - 1  # a margin for clock reads
        else:
            self._held.pop((run_id, owner), None)
        return taken

    def _lease_sync(self, run_id: str, owner: str, seconds: float) -> bool:
        assert self._conn is not None
        with Immediate(self._conn, self._write_lock) as conn:
            row = conn.execute(
                "SELECT owner, until FROM slack_leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            now = time.time()
            if row is not None and row[0] != owner and row[1] > now and holder_alive(row[0]):
                return False
            conn.execute(
                "INSERT OR REPLACE INTO slack_leases VALUES (?, ?, ?)",
                (run_id, owner, now + seconds),
            )
            return True

    async def release(self, run_id: str, owner: str) -> None:
        self._held.pop((run_id, owner), None)
        await self._run(
            self._w, "DELETE FROM slack_leases WHERE run_id = ? AND owner = ?", run_id, owner
        )

    async def unsent(self) -> int:
        """Entries of runs with a thread that have not been posted yet (the outbox backlog)."""
        rows = await self._run(self._q, f"SELECT COUNT(*) {UNSENT}")
        return int(rows[0][0])

    async def runs_with_unsent(self) -> list[str]:
        """Runs, ended or not, whose thread still lacks some of their entries, and ended runs
        whose cards and root a crash left unredrawn after their last post. Start-up calls this
        once: it unsettles the runs that gained unposted entries since the last start-up
        (bounded by what was written since, never by the whole history) and moves the
        watermark on."""
        return list(await self._run(self._runs_with_unsent_sync))

    def _runs_with_unsent_sync(self) -> list[str]:
        assert self._conn is not None
        with Immediate(self._conn, self._write_lock) as conn:
            unfinished = {str(r[0]) for r in conn.execute(UNFINISHED)}
            head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger_entries").fetchone()[0]
            after = conn.execute("SELECT seq FROM slack_watermark WHERE id = 1").fetchone()[0]
            # Only entries not in their thread unsettle a run: one unsettled with nothing to
            # post would stay so, and the next start-up would take it for a cut delivery.
            conn.execute(
                "UPDATE slack_threads SET settled = 0 WHERE settled = 1 AND run_id IN"
                " (SELECT e.run_id FROM ledger_entries e NOT INDEXED LEFT JOIN slack_posts p"
                " ON p.run_id = e.run_id AND p.seq = e.seq WHERE e.seq > ?"
                " AND e.run_id IS NOT NULL AND (p.state IS NULL OR p.state != 'sent'))",
                (after,),
            )
            conn.execute("INSERT OR REPLACE INTO slack_watermark VALUES (1, ?)", (head,))
            unsent = [str(r[0]) for r in conn.execute(f"SELECT DISTINCT t.run_id {UNSENT}")]
        return list(dict.fromkeys([*unsent, *sorted(unfinished)]))

    async def settle(self, run_id: str) -> None:
        """The run has ended and its thread holds every entry: leave it out of start-up."""
        await self._run(self._w, "UPDATE slack_threads SET settled = 1 WHERE run_id = ?", run_id)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(close)
        await self._thread.stop()
