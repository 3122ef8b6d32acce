"""Ledger benchmark: our store against its floors, measured in the same run.

1. Durable appends per second (one event per transaction, synchronous=FULL, WAL) versus raw
   sqlite3 inserts of the same rows into the same schema with the same pragmas, one commit each.
   Target: at least 0.6 of raw. For the reading, the same raw statements are also run through
   a database thread like the store's, awaited from the event loop: what the hand-over to a
   thread (which keeps fsync off the loop) costs by itself, apart from the store's own work.
2. Verification entries per second (read from the file, re-hash, check links) versus bare
   hashlib over the same bytes held in memory. Target: at least 0.5 of raw and 100,000/s.

Each ratio is the median of the trials' own ratios: a trial measures ours and the baseline back
to back, and trials alternate, so a slow spell of the machine falls on both alike. The hash
messages bare hashlib gets are built once, before the verification trials, so nothing untimed
sits between the two halves of a trial; which half goes first alternates from trial to trial.

Usage: python bench/ledger.py [--appends N] [--entries N] [--trials N] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import event_loop
from bot.config import Synchronous
from bot.ledger.chain import Entry, NewEvent, hash_message
from bot.ledger.db_thread import DbThread
from bot.ledger.ddl import schema_statements
from bot.ledger.sqlite_store import BUSY_TIMEOUT_MS, SqliteStore

COLUMNS = "seq, ts, run_id, run_version, kind, actor, payload, prev_hash, hash"
INSERT = f"INSERT INTO ledger_entries ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def event(i: int) -> NewEvent:
    payload = {"step": f"step-{i % 7}", "note": "restarted api, health ok", "by": "U0SRE0001"}
    return NewEvent(
        "step.done", "U0SRE0001", payload, run_id=f"run-{i % 50}", run_version=i // 50 + 1
    )


async def ours_appends(path: Path, n: int) -> tuple[float, list[Entry]]:
    store = await SqliteStore.open(path, synchronous=Synchronous.FULL)
    batches = [[event(i)] for i in range(n)]  # made beforehand, as raw's rows are
    try:
        start = time.perf_counter()
        for batch in batches:
            await store.append(batch)
        elapsed = time.perf_counter() - start
        return n / elapsed, await store.read()
    finally:
        await store.close()


def setup_raw(conn: sqlite3.Connection) -> None:
    """The store's pragmas and schema on a plain connection: the baselines' file."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for statement in schema_statements():
        conn.execute(statement)


def insert_raw(conn: sqlite3.Connection, r: Entry) -> None:
    """One row, one transaction, one commit: the baselines' append."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        INSERT,
        (r.seq, r.ts, r.run_id, r.run_version, r.kind, r.actor, r.payload, r.prev_hash, r.hash),
    )
    conn.execute("COMMIT")


def raw_appends(path: Path, rows: list[Entry]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    setup_raw(conn)
    start = time.perf_counter()
    for r in rows:
        insert_raw(conn, r)
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


async def threaded_raw_appends(path: Path, rows: list[Entry]) -> float:
    """raw_appends' statements, each transaction run on a DbThread and awaited from the loop."""
    thread = DbThread("bench-raw")
    conn = await thread.run(
        lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    )
    await thread.run(partial(setup_raw, conn))
    start = time.perf_counter()
    for row in rows:
        await thread.run(partial(insert_raw, conn, row))
    elapsed = time.perf_counter() - start
    await thread.run(conn.close)
    await thread.stop()
    return len(rows) / elapsed


async def build_ledger(path: Path, n: int) -> None:
    store = await SqliteStore.open(path, synchronous=Synchronous.NORMAL)
    try:
        batch = 1000
        for start in range(0, n - 1, batch):
            await store.append([event(i) for i in range(start, min(start + batch, n - 1))])
    finally:
        await store.close()


async def ours_verify(path: Path) -> tuple[float, int]:
    store = await SqliteStore.open(path)
    try:
        start = time.perf_counter()
        verdict = await store.verify()
        elapsed = time.perf_counter() - start
    finally:
        await store.close()
    assert verdict.ok, verdict.problem
    return verdict.entries / elapsed, verdict.entries


def hash_messages(path: Path) -> list[bytes]:
    """Every entry's hash message, built once and held in memory: the bytes bare hashlib gets."""
    conn = sqlite3.connect(path)
    messages = [
        hash_message(r[7], r[0], r[1], r[2], r[3], r[4], r[5], r[6])
        for r in conn.execute(f"SELECT {COLUMNS} FROM ledger_entries ORDER BY seq")
    ]
    conn.close()
    return messages


def raw_hash(messages: list[bytes]) -> float:
    start = time.perf_counter()
    for message in messages:
        hashlib.sha256(message).hexdigest()
    return len(messages) / (time.perf_counter() - start)


def paired_ratio(ours: list[float], baseline: list[float]) -> float:
    """The median of each trial's ratio. Both halves of a trial run back to back, so a slow
    spell of this shared machine (its speed drifts by a third within seconds) falls on both;
    a ratio of medians could pair ours from a slow spell with a baseline from a fast one."""
    return statistics.median(o / b for o, b in zip(ours, baseline, strict=True))


def spread(ours: list[float], baseline: list[float]) -> str:
    """The lowest and highest trial ratio: how far one trial can land from the median here."""
    ratios = [o / b for o, b in zip(ours, baseline, strict=True)]
    return f"trials {min(ratios):.2f} to {max(ratios):.2f}"


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=2000, help="durable appends per trial")
    parser.add_argument("--entries", type=int, default=300_000, help="ledger size for verification")
    parser.add_argument("--trials", type=int, default=7, help="interleaved trials of each")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        tmpdir = Path(tmp)
        ours_rates, raw_rates, threaded_rates = [], [], []
        for trial in range(args.trials):  # interleaved, so drift in disk speed hits all alike
            rate, rows = await ours_appends(tmpdir / f"ours{trial}.db", args.appends)
            ours_rates.append(rate)
            raw_rates.append(raw_appends(tmpdir / f"raw{trial}.db", rows[1:]))
            threaded_rates.append(await threaded_raw_appends(tmpdir / f"thr{trial}.db", rows[1:]))
        ours, raw = statistics.median(ours_rates), statistics.median(raw_rates)
        append_ratio = paired_ratio(ours_rates, raw_rates)
        threaded_ratio = paired_ratio(threaded_rates, raw_rates)
        print(
            f"durable appends/s   ours {ours:10.0f}   raw sqlite3 {raw:10.0f}   paired ratio {append_ratio:.2f}  (target >= 0.60; {spread(ours_rates, raw_rates)})"
        )
        print(
            f"  for reading it: raw statements through a database thread {statistics.median(threaded_rates):.0f}/s, "
            f"{threaded_ratio:.2f} of raw (the hand-over alone; {spread(threaded_rates, raw_rates)})"
        )

        await build_ledger(tmpdir / "big.db", args.entries)
        messages = hash_messages(tmpdir / "big.db")
        verify_rates, hash_rates = [], []
        for trial in range(args.trials):  # the two halves back to back, in alternating order
            if trial % 2:
                hash_rates.append(raw_hash(messages))
            rate, count = await ours_verify(tmpdir / "big.db")
            verify_rates.append(rate)
            if not trial % 2:
                hash_rates.append(raw_hash(messages))
        ours_v, raw_v = statistics.median(verify_rates), statistics.median(hash_rates)
        verify_ratio = paired_ratio(verify_rates, hash_rates)
        print(
            f"verify entries/s    ours {ours_v:10.0f}   bare hashlib {raw_v:9.0f}   paired ratio {verify_ratio:.2f}  "
            f"(target >= 0.50 and >= 100000/s; {count} entries; {spread(verify_rates, hash_rates)})"
        )
    ok = append_ratio >= 0.6 and verify_ratio >= 0.5 and ours_v >= 100_000
    print("all targets met" if ok else "TARGET MISSED")
    if args.json:
        targets = [
            (
                f"durable appends {ours:,.0f}/s = {append_ratio:.2f} of raw sqlite3 {raw:,.0f}/s (>= 0.60)",
                append_ratio >= 0.6,
            ),
            (
                f"verify {ours_v:,.0f} entries/s = {verify_ratio:.2f} of bare hashlib {raw_v:,.0f}/s "
                "(>= 0.50 and >= 100,000/s)",
                verify_ratio >= 0.5 and ours_v >= 100_000,
            ),
        ]
        args.json.write_text(
            json.dumps({"targets": [{"target": t, "met": m} for t, m in targets], "met": ok}),
            encoding="utf-8",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(event_loop.run(main()))
