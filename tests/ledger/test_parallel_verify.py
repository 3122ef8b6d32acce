"""Verification shared with helper processes: chunks, the links between them, and fallbacks."""

from __future__ import annotations

import fcntl
import itertools
import os
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ledger import parallel_check, verification
from bot.ledger.chain import Entry, NewEvent, Verdict, compute_hash, verify_chain
from bot.ledger.checkpoints import Checkpoint, generate_key, load_private_key, make_checkpoint
from bot.ledger.range_check import check_range
from bot.ledger.range_worker import RECORD, Result, format_line, parse_line, take_chunks
from bot.ledger.sqlite_store import SqliteStore
from tests.ledger.test_tampering import attacker, row

ENTRIES = 3000


@given(count=st.integers(min_value=1, max_value=10_000_000_000))
def test_chunks_cover_every_entry_once_and_fit_one_pipe_page(count: int) -> None:
    ranges = parallel_check.chunks(count, parallel_check.chunk_size(count))
    assert ranges[0][0] == 1 and ranges[-1][1] == count
    for (_, high), (low, _) in itertools.pairwise(ranges):
        assert low == high + 1
    assert all(low <= high for low, high in ranges)
    # All records are written before anyone reads: they must fit the smallest pipe buffer.
    assert len(ranges) * RECORD.size <= 4096


@given(
    low=st.integers(min_value=1, max_value=10**12),
    size=st.integers(min_value=0, max_value=10**6),
    intact=st.booleans(),
    first=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    last=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_a_helper_line_reads_back_as_written(
    low: int, size: int, intact: bool, first: str, last: str
) -> None:
    result = (first, last) if intact else None
    assert parse_line(format_line(low, low + size, result)) == (low, low + size, result)


@pytest.mark.parametrize(
    "line",
    ["", "-", "1", "1 2", "x 2 -", "1 2 abc", "1 2 a b c", "Traceback (most recent"],
)
def test_a_garbled_helper_line_counts_as_no_report(line: str) -> None:
    assert parse_line(line) is None


def test_a_helper_starts_without_the_heavy_standard_modules() -> None:
    """Each helper's start-up is time its CPU is not checking chunks."""
    probe = (
        "import sys, bot.ledger.range_worker; "
        "print(sorted({'json', 'subprocess', 'pathlib', 'bot.ledger.parallel_check'} "
        "& set(sys.modules)))"
    )
    source = str(Path(parallel_check.__file__).resolve().parents[2])
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        env={**os.environ, "PYTHONPATH": source},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


@pytest.fixture
async def big_ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    store = await SqliteStore.open(path)
    for start in range(0, ENTRIES - 1, 500):
        await store.append(
            [
                NewEvent("step.done", "U1", {"i": i, "note": "ok"}, run_id=f"r{i % 9}")
                for i in range(start, min(start + 500, ENTRIES - 1))
            ]
        )
    await store.close()
    return path


CHUNK = 250  # 12 chunks of the 3,000 entries


@pytest.fixture
def three_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two helpers check every chunk; the asking process only hands them out and joins."""
    monkeypatch.setattr(parallel_check, "PARALLEL_FROM", 1000)
    monkeypatch.setattr(parallel_check, "helper_count", lambda: 3)
    monkeypatch.setattr(parallel_check, "CHUNK", CHUNK)
    monkeypatch.setattr(parallel_check, "TAKES_CHUNKS", False)


async def verdict_of(path: Path) -> tuple[int | None, str, int, str]:
    store = await SqliteStore.open(path)
    try:
        verdict = await store.verify()
    finally:
        await store.close()
    return verdict.bad_seq, verdict.problem, verdict.entries, verdict.head_hash


def slow_walk(path: Path) -> tuple[int, str]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM ledger_entries ORDER BY seq").fetchall()
    conn.close()
    verdict = verify_chain(Entry(*r) for r in rows)
    assert verdict.ok, verdict.problem
    return verdict.entries, verdict.head_hash


@pytest.mark.usefixtures("three_processes")
async def test_helpers_agree_with_a_walk_of_the_whole_chain(big_ledger: Path) -> None:
    conn = sqlite3.connect(big_ledger)
    assert parallel_check.check_all(conn, big_ledger, ENTRIES) == (
        "0" * 64,
        conn.execute("SELECT hash FROM ledger_entries WHERE seq = ?", (ENTRIES,)).fetchone()[0],
    )
    # Each chunk on its own is intact too, and they meet end to start.
    results = [check_range(conn, low, high) for low, high in parallel_check.chunks(ENTRIES, CHUNK)]
    assert all(r is not None for r in results)
    conn.close()
    entries, head = slow_walk(big_ledger)
    assert await verdict_of(big_ledger) == (None, "", entries, head)


@pytest.mark.usefixtures("three_processes")
@pytest.mark.parametrize(
    "cut",
    [
        "1" * 64,
        # A helper reports a chunk as one line holding its first prev_hash: one of the right
        # length with a line break and a made-up report for another chunk in it must not
        # pass for that report.
        f"{'1' * 20}\n1 {CHUNK} {'0' * 37}",
    ],
    ids=["plain", "forged-report"],
)
async def test_a_cut_exactly_where_two_ranges_meet_is_found(big_ledger: Path, cut: str) -> None:
    """Each chunk verifies in itself; only the link between two of them is wrong."""
    boundary = parallel_check.chunks(ENTRIES, CHUNK)[5][0]
    conn = attacker(big_ledger)
    prev = cut  # the cut; every later entry is re-hashed to follow it
    for seq in range(boundary, ENTRIES + 1):
        rehashed = row(conn, seq)._replace(prev_hash=prev)
        prev = compute_hash(rehashed)
        conn.execute(
            "UPDATE ledger_entries SET prev_hash = ?, hash = ? WHERE seq = ?",
            (rehashed.prev_hash, prev, seq),
        )
    assert len(cut) == 64 and check_range(conn, boundary, ENTRIES) == (cut, prev)
    conn.close()
    bad, problem, _, _ = await verdict_of(big_ledger)
    assert bad == boundary and problem.startswith("chain cut")


@pytest.mark.usefixtures("three_processes")
async def test_helpers_that_cannot_start_fall_back_to_the_full_walk(
    big_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    conn = sqlite3.connect(big_ledger)
    assert parallel_check.check_all(conn, big_ledger, ENTRIES) == 1  # nothing vouched for
    conn.close()
    entries, head = slow_walk(big_ledger)
    assert await verdict_of(big_ledger) == (None, "", entries, head)


@pytest.mark.usefixtures("three_processes")
async def test_the_asking_process_takes_every_chunk_helpers_leave(
    big_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks go to whoever reads first: with helpers that exit at once, or that cannot even
    be started, it checks them all."""
    monkeypatch.setattr(parallel_check, "TAKES_CHUNKS", True)
    conn = sqlite3.connect(big_ledger)
    _, head = slow_walk(big_ledger)
    for executable in ("/bin/false", "/nonexistent/python"):
        monkeypatch.setattr(sys, "executable", executable)
        assert parallel_check.check_all(conn, big_ledger, ENTRIES) == ("0" * 64, head)
    conn.close()


@pytest.mark.usefixtures("three_processes")
async def test_every_process_takes_chunks_and_each_chunk_is_checked_once(
    big_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asking process and both helpers read one shared pipe; however the chunks fall out,
    each is checked exactly once and the chain is joined in order. The asking process here
    waits for a helper to take the first chunk, as a CPU slower than the helpers' would."""
    monkeypatch.setattr(parallel_check, "TAKES_CHUNKS", True)
    monkeypatch.setattr(parallel_check, "CHUNK", 10)  # 300 chunks, capped at MAX_CHUNKS
    taken: list[tuple[int, int]] = []
    take = take_chunks

    def unread(fd: int) -> int:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])

    def counting(conn: sqlite3.Connection, fd: int) -> Iterator[tuple[int, int, Result]]:
        everything, deadline = unread(fd), time.monotonic() + 60
        while unread(fd) == everything and time.monotonic() < deadline:
            time.sleep(0.01)
        for low, high, result in take(conn, fd):
            taken.append((low, high))
            yield low, high, result

    monkeypatch.setattr(parallel_check, "take_chunks", counting)
    conn = sqlite3.connect(big_ledger)
    _, head = slow_walk(big_ledger)
    assert parallel_check.check_all(conn, big_ledger, ENTRIES) == ("0" * 64, head)
    conn.close()
    every = parallel_check.chunks(ENTRIES, parallel_check.chunk_size(ENTRIES))
    assert len(set(taken)) == len(taken) and set(taken) < set(every)  # the helpers took some


@pytest.mark.usefixtures("three_processes")
async def test_each_process_checks_on_a_cpu_of_its_own(
    big_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left to the scheduler a helper starts on its parent's CPU, and the two can share it for
    most of a check. The asking thread gets the first usable CPU and each helper the next one
    round (as many as there are); the thread has all of them back afterwards."""
    monkeypatch.setattr(parallel_check, "TAKES_CHUNKS", True)
    before = os.sched_getaffinity(0)
    cpus = sorted(before)
    helpers_on: list[set[int]] = []
    asking_on: list[set[int]] = []
    place, take = parallel_check.place, take_chunks

    def placing(pid: int, usable: list[int], index: int) -> None:
        place(pid, usable, index)
        if pid:  # a helper, still starting up: read back where it may run
            helpers_on.append(os.sched_getaffinity(pid))

    def taking(conn: sqlite3.Connection, fd: int) -> Iterator[tuple[int, int, Result]]:
        asking_on.append(os.sched_getaffinity(0))
        yield from take(conn, fd)

    monkeypatch.setattr(parallel_check, "place", placing)
    monkeypatch.setattr(parallel_check, "take_chunks", taking)
    conn = sqlite3.connect(big_ledger)
    _, head = slow_walk(big_ledger)
    assert parallel_check.check_all(conn, big_ledger, ENTRIES) == ("0" * 64, head)
    conn.close()
    assert asking_on == [{cpus[0]}]
    assert helpers_on == [{cpus[1 % len(cpus)]}, {cpus[2 % len(cpus)]}]
    assert os.sched_getaffinity(0) == before


@pytest.mark.usefixtures("three_processes")
async def test_the_asking_thread_gets_its_cpus_back_when_the_check_fails(
    big_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification runs on a worker thread that other work reuses: an error in the middle of a
    check must not leave that thread held to one CPU."""
    monkeypatch.setattr(parallel_check, "TAKES_CHUNKS", True)
    before = os.sched_getaffinity(0)

    def failing(conn: sqlite3.Connection, fd: int) -> Iterator[tuple[int, int, Result]]:
        assert len(os.sched_getaffinity(0)) == 1
        raise sqlite3.OperationalError("disk I/O error")
        yield  # a generator, as take_chunks is

    monkeypatch.setattr(parallel_check, "take_chunks", failing)
    conn = sqlite3.connect(big_ledger)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        parallel_check.check_all(conn, big_ledger, ENTRIES)
    conn.close()
    assert os.sched_getaffinity(0) == before


def nul_in_an_actor(conn: sqlite3.Connection) -> Entry:
    """Rewrite the next-to-last entry with a NUL inside its actor, hashes and link kept valid
    (a chain that is intact, but that the fast path cannot split); the relinked last entry."""
    seq = ENTRIES - 1
    odd = row(conn, seq)._replace(actor="U1\x00U2")
    odd = odd._replace(hash=compute_hash(odd))
    relinked = row(conn, ENTRIES)._replace(prev_hash=odd.hash)
    relinked = relinked._replace(hash=compute_hash(relinked))
    conn.execute(
        "UPDATE ledger_entries SET actor = ?, hash = ? WHERE seq = ?", (odd.actor, odd.hash, seq)
    )
    conn.execute(
        "UPDATE ledger_entries SET prev_hash = ?, hash = ? WHERE seq = ?",
        (relinked.prev_hash, relinked.hash, ENTRIES),
    )
    return relinked


async def test_a_nul_in_a_field_is_not_mistaken_for_a_tamper(big_ledger: Path) -> None:
    """The fast path splits messages at NUL; a chain that is valid with a NUL inside an actor
    must still verify, by the careful walk."""
    conn = attacker(big_ledger)
    relinked = nul_in_an_actor(conn)
    assert check_range(conn, ENTRIES - 11, ENTRIES) is None  # the fast path steps aside
    conn.close()
    assert await verdict_of(big_ledger) == (None, "", ENTRIES, relinked.hash)


@pytest.mark.parametrize("column", ["payload", "prev_hash", "ts", "kind"])
async def test_a_null_field_is_not_vouched_for(tmp_path: Path, column: str) -> None:
    """The schema refuses NULLs, but an attacker can copy the table without its constraints.
    A NULL payload makes SQLite's whole message NULL, which group_concat leaves out; any
    other NULL field prints as empty. Either way the fast check must step aside."""
    store = await SqliteStore.open(tmp_path / "ledger.db")
    try:
        for i in range(10):
            await store.append([NewEvent("e", f"U{i}", {"i": i})])
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    conn.execute("ATTACH ? AS loose", (str(tmp_path / "loose.db"),))
    conn.execute("CREATE TABLE loose.ledger_entries AS SELECT * FROM main.ledger_entries")
    conn.execute(f"UPDATE loose.ledger_entries SET {column} = NULL WHERE seq = 5")
    conn.commit()
    conn.close()
    loose = sqlite3.connect(tmp_path / "loose.db")
    try:
        assert check_range(loose, 1, 4) is not None  # the entries before it still vouch
        assert check_range(loose, 1, 11) is None
        assert check_range(loose, 5, 5) is None
        rows = loose.execute("SELECT * FROM ledger_entries ORDER BY seq").fetchall()
    finally:
        loose.close()
    assert verify_chain(Entry(*r) for r in rows).bad_seq == 5


@pytest.mark.usefixtures("three_processes")
@pytest.mark.parametrize("seq", [2600, 2501, 2500, 2])
async def test_the_careful_walk_starts_at_the_first_chunk_not_vouched_for(
    big_ledger: Path, monkeypatch: pytest.MonkeyPatch, seq: int
) -> None:
    """A changed payload in chunk 2501..2750 (or at its edges, or in the first chunk): the
    walk begins where the fast check stopped vouching, and names what a walk from the genesis
    entry would name."""
    conn = attacker(big_ledger)
    conn.execute(
        "UPDATE ledger_entries SET payload = replace(payload, 'ok', 'OK') WHERE seq = ?", (seq,)
    )
    rows = conn.execute("SELECT * FROM ledger_entries ORDER BY seq").fetchall()
    conn.close()
    whole = verify_chain(Entry(*r) for r in rows)
    starts: list[int] = []
    walk = verification._walk_from

    def recorded(conn: sqlite3.Connection, start: int) -> Verdict:
        starts.append(start)
        return walk(conn, start)

    monkeypatch.setattr(verification, "_walk_from", recorded)
    store = await SqliteStore.open(big_ledger)
    try:
        verdict = await store.verify()
    finally:
        await store.close()
    assert verdict == whole and verdict.bad_seq == seq
    assert verdict.problem.startswith("payload changed")
    assert starts == [(seq - 1) // CHUNK * CHUNK + 1]


async def test_a_false_alarm_still_has_its_checkpoints_checked(big_ledger: Path) -> None:
    """A NUL inside a field sends the fast check to the careful walk, which finds the chain
    intact; the checkpoints must still be checked after it."""
    conn = attacker(big_ledger)
    relinked = nul_in_an_actor(conn)
    conn.close()
    store = await SqliteStore.open(big_ledger)
    try:
        key = load_private_key(generate_key()[0])
        good = make_checkpoint(ENTRIES, relinked.hash, "2026-01-01T00:00:00Z", key)
        forged = Checkpoint(
            good.size, good.head_hash, "2026-01-02T00:00:00Z", good.public_key, good.signature
        )
        await store.append([NewEvent("ledger.checkpoint", "mallory", forged.to_dict())])
        verdict = await store.verify()
    finally:
        await store.close()
    assert (verdict.bad_seq, verdict.problem) == (ENTRIES + 1, "checkpoint signature is invalid")
