"""An attacker with write access to the SQLite file: drop the triggers, edit, and get caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.ledger import parallel_check
from bot.ledger.chain import Entry, NewEvent, compute_hash
from bot.ledger.sqlite_store import SqliteStore

COLUMNS = "seq, ts, run_id, run_version, kind, actor, payload, prev_hash, hash"


async def make_ledger(path: Path, n: int = 10) -> None:
    store = await SqliteStore.open(path)
    for i in range(n):
        await store.append(
            [
                NewEvent(
                    "step.done",
                    f"U{i}",
                    {"i": i, "note": f"entry {i}"},
                    run_id="r1",
                    run_version=i + 1,
                )
            ]
        )
    await store.close()


async def verdict_of(path: Path) -> tuple[int | None, str]:
    store = await SqliteStore.open(path)
    try:
        verdict = await store.verify()
    finally:
        await store.close()
    return verdict.bad_seq, verdict.problem


def attacker(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def row(conn: sqlite3.Connection, seq: int) -> Entry:
    return Entry(
        *conn.execute(f"SELECT {COLUMNS} FROM ledger_entries WHERE seq = ?", (seq,)).fetchone()
    )


def put(conn: sqlite3.Connection, entry: Entry) -> None:
    conn.execute(
        f"INSERT INTO ledger_entries ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
        tuple(entry),
    )


async def _publish_one(path: Path) -> None:
    store = await SqliteStore.open(path)
    payload = {
        "name": "rb",
        "number": 1,
        "sha256": "f" * 64,
        "source": "s",
        "message": "",
        "path": "rb.yml",
    }
    await store.append([NewEvent("runbook.published", "alice", payload)])
    await store.close()


@pytest.fixture(autouse=True, params=["one process", "helper processes"])
def verify_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every tamper class is caught whether one process re-hashes the chain or helpers share
    it (an 11-entry ledger then goes out in chunks of 3, all of them checked by helpers)."""
    if request.param == "helper processes":
        monkeypatch.setattr(parallel_check, "PARALLEL_FROM", 2)
        monkeypatch.setattr(parallel_check, "helper_count", lambda: 3)
        monkeypatch.setattr(parallel_check, "CHUNK", 3)
        monkeypatch.setattr(parallel_check, "TAKES_CHUNKS", False)
    return str(request.param)


@pytest.fixture
async def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    await make_ledger(path)  # seq 1 is genesis, 2..11 are steps
    return path


async def test_untouched_ledger_verifies(ledger: Path) -> None:
    assert await verdict_of(ledger) == (None, "")


async def test_update_and_delete_are_refused_while_triggers_stand(ledger: Path) -> None:
    await _publish_one(ledger)
    conn = sqlite3.connect(ledger, isolation_level=None)
    for sql in (
        "UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 3",
        "DELETE FROM ledger_entries WHERE seq = 3",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="ledger_entries is append-only"):
            conn.execute(sql)
    for table in ("runbook_versions", "runbook_defaults"):
        with pytest.raises(
            sqlite3.IntegrityError, match=f"{table} is append-only: UPDATE is refused"
        ):
            conn.execute(f"UPDATE {table} SET number = 2")
        with pytest.raises(
            sqlite3.IntegrityError, match=f"{table} is append-only: DELETE is refused"
        ):
            conn.execute(f"DELETE FROM {table}")
    conn.close()
    assert await verdict_of(ledger) == (None, "")


async def test_payload_changed(ledger: Path) -> None:
    attacker(ledger).execute(
        'UPDATE ledger_entries SET payload = \'{"i":4,"note":"nothing happened"}\' WHERE seq = 6'
    )
    bad, problem = await verdict_of(ledger)
    assert bad == 6 and problem.startswith("payload changed")


async def test_entry_missing_leaves_a_gap(ledger: Path) -> None:
    attacker(ledger).execute("DELETE FROM ledger_entries WHERE seq = 6")
    bad, problem = await verdict_of(ledger)
    assert bad == 6 and problem.startswith("entry missing")


async def test_entry_missing_with_later_entries_renumbered(ledger: Path) -> None:
    conn = attacker(ledger)
    conn.execute("DELETE FROM ledger_entries WHERE seq = 6")
    conn.execute("UPDATE ledger_entries SET seq = seq - 1 WHERE seq > 6")
    bad, problem = await verdict_of(ledger)
    assert bad == 6 and problem.startswith("entry missing")


async def test_entry_inserted_with_a_valid_hash(ledger: Path) -> None:
    conn = attacker(ledger)
    for seq in range(11, 5, -1):
        conn.execute("UPDATE ledger_entries SET seq = seq + 1 WHERE seq = ?", (seq,))
    before = row(conn, 5)
    forged = Entry(
        6,
        before.ts,
        None,
        None,
        "approval.granted",
        "mallory",
        '{"step":"restart"}',
        before.hash,
        "",
    )
    put(conn, forged._replace(hash=compute_hash(forged)))
    bad, problem = await verdict_of(ledger)
    assert bad == 6 and problem.startswith("entry inserted")


async def test_order_changed(ledger: Path) -> None:
    conn = attacker(ledger)
    a, b = row(conn, 6), row(conn, 7)
    conn.execute("DELETE FROM ledger_entries WHERE seq IN (6, 7)")
    put(conn, b._replace(seq=6))
    put(conn, a._replace(seq=7))
    bad, problem = await verdict_of(ledger)
    assert bad == 6 and problem.startswith("order changed")


async def test_chain_cut(ledger: Path) -> None:
    conn = attacker(ledger)
    old = row(conn, 6)
    cut = old._replace(prev_hash="1" * 64)
    conn.execute(
        "UPDATE ledger_entries SET prev_hash = ?, hash = ? WHERE seq = 6",
        (cut.prev_hash, compute_hash(cut)),
    )
    bad, problem = await verdict_of(ledger)
    assert bad == 6 and problem.startswith("chain cut")


async def test_genesis_removed(ledger: Path) -> None:
    attacker(ledger).execute("DELETE FROM ledger_entries WHERE seq = 1")
    bad, problem = await verdict_of(ledger)
    assert bad == 1 and problem.startswith("entry missing")
