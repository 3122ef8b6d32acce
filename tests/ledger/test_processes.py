"""Real processes on one SQLite file: concurrent writers, and a writer killed mid-append."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.ledger.sqlite_store import SqliteStore

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bot.ledger.sqlite_store import SqliteStore
    from bot.ledger.chain import NewEvent

    async def main(path, name, count):
        store = await SqliteStore.open(Path(path))
        for i in range(count):
            await store.append([NewEvent("step.done", name, {"i": i, "pad": "x" * 200}),
                                NewEvent("note", name, {"i": i})])
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def spawn(path: Path, name: str, count: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), name, str(count), stderr=asyncio.subprocess.PIPE
    )


async def verify(path: Path) -> tuple[bool, int, str]:
    store = await SqliteStore.open(path)
    try:
        verdict = await store.verify()
    finally:
        await store.close()
    return verdict.ok, verdict.entries, verdict.problem


@pytest.mark.slow
async def test_concurrent_writer_processes_give_one_gap_free_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    await (await SqliteStore.open(path)).close()  # create the file and genesis first
    writers = [await spawn(path, f"w{n}", 40) for n in range(4)]
    for writer in writers:
        _, err = await asyncio.wait_for(writer.communicate(), timeout=120)
        assert writer.returncode == 0, err.decode()
    ok, entries, problem = await verify(path)
    assert ok, problem
    assert entries == 1 + 4 * 40 * 2
    conn = sqlite3.connect(path)
    seqs = [r[0] for r in conn.execute("SELECT seq FROM ledger_entries ORDER BY seq")]
    per_writer = dict(
        conn.execute(
            "SELECT actor, COUNT(*) FROM ledger_entries WHERE actor LIKE 'w%' GROUP BY actor"
        )
    )
    conn.close()
    assert seqs == list(range(1, entries + 1))
    assert per_writer == {f"w{n}": 80 for n in range(4)}


@pytest.mark.slow
async def test_writer_killed_mid_append_leaves_a_chain_that_verifies(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    rng = random.Random(7)
    previous = 0
    for _ in range(6):
        writer = await spawn(path, "victim", 100_000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not path.exists() or _count(path) <= previous + 5):
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0, 0.05))
        os.kill(writer.pid, signal.SIGKILL)
        await writer.wait()
        ok, entries, problem = await verify(path)
        assert ok, problem
        assert entries % 2 == 1  # genesis + pairs: a two-event append is all or nothing
        assert entries > previous
        previous = entries


def _count(path: Path) -> int:
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0
