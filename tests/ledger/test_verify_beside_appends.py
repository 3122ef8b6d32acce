"""Verifying a large ledger takes seconds; appends, which every click's ack waits for, go on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.ledger import verification
from bot.ledger.chain import NewEvent
from bot.ledger.parallel_check import Vouched, check_all
from bot.ledger.sqlite_store import SqliteStore


async def test_an_append_is_not_held_up_by_a_verification_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteStore.open(tmp_path / "ledger.db")
    await store.append([NewEvent("step.done", "U1", {"i": i}, run_id="r") for i in range(20)])
    checking, appended = threading.Event(), threading.Event()

    def slow_check(
        conn: sqlite3.Connection, path: Path, count: int, *, uri: str | None = None
    ) -> Vouched:
        """A verification that lasts until the append below is durable (or 10 s)."""
        checking.set()
        appended.wait(10)
        return check_all(conn, path, count, uri=uri)

    monkeypatch.setattr(verification, "check_all", slow_check)
    try:
        verifying = asyncio.create_task(store.verify())
        assert await asyncio.to_thread(checking.wait, 10)
        entries = await asyncio.wait_for(
            store.append([NewEvent("step.done", "U2", {"late": True}, run_id="r2")]), 5
        )
        appended.set()
        verdict = await verifying
    finally:
        appended.set()
        await store.close()
    assert entries[0].seq == 22
    assert verdict.ok and verdict.entries == 21  # the snapshot it began with
