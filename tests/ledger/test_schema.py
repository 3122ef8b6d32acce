"""The schema is created from the SQLModel tables once; later opens skip the DDL and SQLAlchemy."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.errors import UserError
from bot.ledger import ddl
from bot.ledger.sqlite_store import SCHEMA_VERSION, SqliteStore

REPO = Path(__file__).resolve().parents[2]


def test_the_recorded_schema_version_is_the_fingerprint_of_the_tables() -> None:
    expected = ddl.fingerprint(ddl.schema_statements())
    assert expected == SCHEMA_VERSION, (
        f"The tables changed: set SCHEMA_VERSION in bot/ledger/sqlite_store.py to 0x{expected:X}, "
        f"and add the old value (0x{SCHEMA_VERSION:X}) to EARLIER_SCHEMAS, so that files made "
        "before the change get the new DDL when they are opened instead of being refused as "
        "a newer bot's."
    )


def test_the_fingerprint_fits_user_version_and_follows_the_ddl() -> None:
    statements = ddl.schema_statements()
    for changed in (statements, [*statements, "CREATE INDEX x ON y (z)"], statements[1:], []):
        assert 0 < ddl.fingerprint(changed) < 2**31
    assert ddl.fingerprint([*statements, "CREATE INDEX x ON y (z)"]) != ddl.fingerprint(statements)


def objects(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return set(
            conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        )


async def test_a_new_file_gets_every_table_index_and_trigger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = await SqliteStore.open(path)
    await store.close()
    reference = sqlite3.connect(":memory:")
    for statement in ddl.schema_statements():
        reference.execute(statement)
    wanted = set(
        reference.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    )
    assert len(wanted) > 10 and objects(path) == wanted
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_file_from_before_the_fingerprint_is_brought_up_to_date(tmp_path: Path) -> None:
    """A file made by an older bot: no fingerprint, and an index that bot did not have."""
    path = tmp_path / "ledger.db"
    store = await SqliteStore.open(path)
    await store.append([])
    await store.close()
    complete = objects(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX ix_ledger_checkpoints")
        conn.execute("PRAGMA user_version = 0")
    store = await SqliteStore.open(path)
    verdict = await store.verify()
    await store.close()
    assert verdict.ok and verdict.entries == 1  # the genesis entry, not a second one
    assert objects(path) == complete


def test_opening_a_current_file_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    """SQLAlchemy is about a third of a second of every start; a current file never needs it."""
    path = tmp_path / "ledger.db"
    probe = textwrap.dedent(
        f"""
        import asyncio, sys
        import bot.cli.main
        from bot.ledger.sqlite_store import SqliteStore

        async def main():
            store = await SqliteStore.open(__import__("pathlib").Path({str(path)!r}))
            await store.close()

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "sqlmodel")))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs[0] != "[]"  # a new file: the DDL is built, so the check below can fail
    assert runs[1] == "[]"


async def test_opening_a_current_file_waits_for_no_writer(tmp_path: Path) -> None:
    """Another process in the middle of a write transaction does not hold up a start."""
    path = tmp_path / "ledger.db"
    store = await SqliteStore.open(path)
    await store.close()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        store = await asyncio.wait_for(SqliteStore.open(path), 10)  # the busy timeout is 30 s
        head, _ = await store.head()
        await store.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert head == 1


async def test_a_file_from_a_newer_bot_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """A newer bot's tables carry a fingerprint this one does not know. Writing to that file
    would skip whatever the newer tables keep, so it is refused, and nothing in it changes:
    not the fingerprint, nor a table. Reading it (verify, export) still works."""
    path = tmp_path / "ledger.db"
    store = await SqliteStore.open(path)
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE INDEX ix_from_the_future ON ledger_entries (kind)")
        conn.execute("PRAGMA user_version = 123456789")
    before = objects(path)
    with pytest.raises(
        UserError,
        match=r"written by a newer runbook-bot \(its tables are version 0x75BCD15; this one knows 0x",
    ) as refused:
        await SqliteStore.open(path)
    assert "Upgrade runbook-bot" in str(refused.value)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 123456789
    assert objects(path) == before
    reader = await SqliteStore.open(path, read_only=True)
    try:
        assert (await reader.verify()).ok
    finally:
        await reader.close()
