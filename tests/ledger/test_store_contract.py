"""The contract every LedgerStore backend must pass. Add a backend to BACKENDS to run it here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.errors import ConflictError
from bot.ledger.chain import GENESIS_KIND, GENESIS_PREV, NewEvent
from bot.ledger.sqlite_store import SqliteStore
from bot.ledger.store import LedgerStore

Opener = Callable[[Path], Awaitable[LedgerStore]]


async def _sqlite(tmp: Path) -> LedgerStore:
    return await SqliteStore.open(tmp / "contract.db")


BACKENDS: dict[str, Opener] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LedgerStore]:
    opened = await BACKENDS[request.param](tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_new_ledger_starts_with_genesis(backend: LedgerStore) -> None:
    [genesis] = await backend.read()
    assert (genesis.seq, genesis.kind, genesis.prev_hash) == (1, GENESIS_KIND, GENESIS_PREV)
    assert await backend.head() == (1, genesis.hash)


async def test_append_and_read_round_trip(backend: LedgerStore) -> None:
    written = await backend.append(
        [
            NewEvent(
                "run.started",
                "U1",
                {"runbook": "restart-service", "params": {"service": "api"}},
                run_id="r1",
                run_version=1,
            ),
            NewEvent("note", "Zoë", {"text": 'ünïcode ✓ and "quotes"\nnewline'}),
        ]
    )
    read = await backend.read(after=1)
    assert read == written
    assert read[0].data == {"runbook": "restart-service", "params": {"service": "api"}}
    assert read[1].data["text"] == 'ünïcode ✓ and "quotes"\nnewline'
    assert [e.seq for e in read] == [2, 3]
    assert read[1].prev_hash == read[0].hash
    assert await backend.head() == (3, read[1].hash)
    assert await backend.entry(2) == read[0]
    assert await backend.entry(99) is None


async def test_read_one_run_and_page(backend: LedgerStore) -> None:
    await backend.append(
        [
            NewEvent("a", "x", run_id="r1", run_version=1),
            NewEvent("b", "x", run_id="r2", run_version=1),
        ]
    )
    await backend.append([NewEvent("c", "x", run_id="r1", run_version=2)])
    assert [e.kind for e in await backend.read(run_id="r1")] == ["a", "c"]
    assert [e.seq for e in await backend.read(after=1, limit=2)] == [2, 3]


async def test_a_conflicting_append_is_rejected_whole(backend: LedgerStore) -> None:
    await backend.append([NewEvent("step.done", "U1", run_id="r1", run_version=1)])
    with pytest.raises(ConflictError):
        await backend.append(
            [NewEvent("ok", "U2"), NewEvent("step.done", "U2", run_id="r1", run_version=1)]
        )
    assert [e.kind for e in await backend.read()] == [GENESIS_KIND, "step.done"]
    assert (await backend.verify()).ok


async def test_racing_identical_decisions_give_exactly_one_entry(backend: LedgerStore) -> None:
    async def decide(who: str) -> bool:
        try:
            await backend.append([NewEvent("approval.granted", who, run_id="r9", run_version=3)])
        except ConflictError:
            return False
        return True

    wins = await asyncio.gather(*(decide(f"U{i}") for i in range(20)))
    assert wins.count(True) == 1
    assert len(await backend.read(run_id="r9")) == 1


async def test_concurrent_appends_form_one_gap_free_chain(backend: LedgerStore) -> None:
    await asyncio.gather(*(backend.append([NewEvent("e", f"w{i}", {"i": i})]) for i in range(50)))
    entries = await backend.read()
    assert [e.seq for e in entries] == list(range(1, 52))
    verdict = await backend.verify()
    assert verdict.ok and verdict.entries == 51


@pytest.mark.parametrize(
    ("notes", "conflicting"),
    [(1, 7), (60, 13)],  # 60 notes: the group fills more than one INSERT; 13 is the last append
)
async def test_a_conflict_among_concurrent_appends_refuses_that_append_alone(
    backend: LedgerStore, notes: int, conflicting: int
) -> None:
    await backend.append([NewEvent("step.done", "U1", run_id="r1", run_version=1)])

    async def append(i: int) -> str:
        run_id = "r1" if i == conflicting else f"r{i}"  # repeats r1's first version: a conflict
        events = [
            *(NewEvent("note", f"w{i}", {"n": n}) for n in range(notes)),
            NewEvent("step.done", f"w{i}", run_id=run_id, run_version=1),
        ]
        try:
            await backend.append(events)
        except ConflictError:
            return "refused"
        return "appended"

    outcomes = await asyncio.gather(*(append(i) for i in range(2, 14)))
    assert outcomes == ["refused" if i == conflicting else "appended" for i in range(2, 14)]
    entries = await backend.read(after=2)
    assert sorted(e.actor for e in entries if e.kind == "note") == sorted(
        f"w{i}" for i in range(2, 14) if i != conflicting for _ in range(notes)
    )
    assert [e.seq for e in entries] == list(range(3, 3 + 11 * (notes + 1)))
    assert (await backend.verify()).ok


async def test_a_large_append_is_all_or_nothing(backend: LedgerStore) -> None:
    """More events than one statement takes: all of them, or (on a conflict in the last
    statement's rows) none."""
    await backend.append([NewEvent("step.done", "U1", run_id="r1", run_version=1)])
    notes = [NewEvent("note", "U2", {"n": n}) for n in range(1200)]
    with pytest.raises(ConflictError):
        await backend.append([*notes, NewEvent("step.done", "U2", run_id="r1", run_version=1)])
    assert (await backend.head())[0] == 2
    appended = await backend.append(
        [*notes, NewEvent("step.done", "U2", run_id="r1", run_version=2)]
    )
    assert [e.seq for e in appended] == list(range(3, 3 + 1201))
    assert [e.data["n"] for e in await backend.read(after=2, limit=1200)] == list(range(1200))
    assert (await backend.verify()).ok


async def test_sqlite_appends_that_arrive_together_share_a_commit(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "group.db")
    try:
        before = store.commits
        await asyncio.gather(*(store.append([NewEvent("e", f"w{i}")]) for i in range(40)))
        # The first goes alone; the 39 that queue behind it share the next commit.
        assert store.commits - before == 2
        assert (await store.head())[0] == 41
    finally:
        await store.close()


async def test_sqlite_close_commits_the_appends_it_already_accepted(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "closing.db")
    appends = [asyncio.ensure_future(store.append([NewEvent("e", f"w{i}")])) for i in range(30)]
    await asyncio.sleep(0)  # every append is queued or on the database thread now
    await store.close()
    assert [entries[0].seq for entries in await asyncio.gather(*appends)] == list(range(2, 32))
    reopened = await SqliteStore.open(tmp_path / "closing.db")
    try:
        assert (await reopened.head())[0] == 31
    finally:
        await reopened.close()


async def test_sqlite_a_cancelled_caller_leaves_its_group_answered(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "cancel.db")
    try:
        first = asyncio.ensure_future(store.append([NewEvent("e", "first")]))
        await asyncio.sleep(0)  # `first` is on the database thread; the next three queue
        queued = [asyncio.ensure_future(store.append([NewEvent("e", f"q{i}")])) for i in range(3)]
        await asyncio.sleep(0)
        queued[1].cancel()
        await first
        done = await asyncio.gather(*queued, return_exceptions=True)
        assert isinstance(done[1], asyncio.CancelledError)
        assert [d[0].actor for d in (done[0], done[2])] == ["q0", "q2"]  # type: ignore[index]
        # The cancelled caller's entry stands all the same: it was accepted before the cancel.
        assert [e.actor for e in await store.read(after=1)] == ["first", "q0", "q1", "q2"]
    finally:
        await store.close()


async def test_sqlite_stores_taking_turns_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    """Each store seals on its event loop from the head its last commit left. When another
    writer (here a second store, as a second process would) appended meanwhile, that head is
    stale: the append must be sealed again after the real head, not fail or fork the chain."""
    first = await SqliteStore.open(tmp_path / "shared.db")
    second = await SqliteStore.open(tmp_path / "shared.db")
    try:
        returned = []
        for i in range(6):
            for store, name in ((first, "a"), (first, "a"), (second, "b")):
                returned += await store.append([NewEvent("e", f"{name}{i}")])
        stored = await first.read(after=1)
        assert stored == returned  # what each caller was told is what the file holds
        assert [e.seq for e in stored] == list(range(2, 20))
        verdict = await second.verify()
        assert verdict.ok and verdict.entries == 19
    finally:
        await first.close()
        await second.close()


async def test_sqlite_appends_go_on_after_a_conflict_and_a_failed_append(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "recover.db")
    try:
        await store.append([NewEvent("step.done", "U1", run_id="r1", run_version=1)])
        with pytest.raises(ConflictError):
            await store.append([NewEvent("step.done", "U2", run_id="r1", run_version=1)])
        with pytest.raises(KeyError):  # a published entry must name its runbook
            await store.append([NewEvent("runbook.published", "U3", {"number": 1})])
        after = await store.append([NewEvent("step.done", "U4", run_id="r1", run_version=2)])
        assert [e.seq for e in after] == [3]
        assert [e.actor for e in await store.read(after=1)] == ["U1", "U4"]
        assert (await store.verify()).ok
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (NewEvent("kind\nforged", "U1"), "kind"),
        (NewEvent("step.done", "U1\nU2"), "actor"),
        (NewEvent("step.done", "  "), "actor"),
        (NewEvent("", "U1"), "kind"),
        (NewEvent("step.done", "U1", run_id="r1\nr2", run_version=1), "run_id"),
    ],
)
async def test_events_with_newlines_in_single_line_fields_are_refused(
    backend: LedgerStore, event: NewEvent, field: str
) -> None:
    with pytest.raises(ValueError, match=f"ledger {field} must be a non-empty single line"):
        await backend.append([NewEvent("note", "U1"), event])
    assert (await backend.head())[0] == 1  # nothing of the append was written


async def test_catalog_projection_follows_published_entries(backend: LedgerStore) -> None:
    payload = {
        "name": "rb",
        "number": 1,
        "sha256": "f" * 64,
        "source": "name: rb\n",
        "message": "m",
        "path": "rb.yml",
    }
    await backend.append([NewEvent("runbook.published", "alice", payload)])
    [version] = await backend.versions("rb")
    assert (version.number, version.author, version.source) == (1, "alice", "name: rb\n")
    assert await backend.default_number("rb") == 1
    assert await backend.runbook_names() == ["rb"]
    with pytest.raises(ConflictError):  # a second rb@1 is refused by key, not by a prior check
        await backend.append([NewEvent("runbook.published", "bob", dict(payload, sha256="e" * 64))])


async def test_the_runs_index_follows_run_entries(backend: LedgerStore) -> None:
    def started(run_id: str, number: int) -> NewEvent:
        payload = {"runbook": "rb", "number": number, "channel": "C1", "requester": "U1"}
        return NewEvent("run.started", "U1", payload, run_id=run_id, run_version=1)

    [first] = await backend.append([started("run-a", 1)])
    await backend.append([started("run-b", 2)])
    await backend.append(
        [NewEvent("run.aborted", "U2", {"reason": "r"}, run_id="run-a", run_version=2)]
    )
    runs = await backend.runs()
    assert [(r["run_id"], r["status"]) for r in runs] == [("run-a", "aborted"), ("run-b", "active")]
    assert "started_at" not in runs[0]
    [active] = await backend.runs(status="active", with_start=True)
    assert (active["run_id"], active["number"], active["requester"]) == ("run-b", 2, "U1")
    [aborted] = [r for r in await backend.runs(with_start=True) if r["run_id"] == "run-a"]
    assert (aborted["started_at"], aborted["number"]) == (first.ts, 1)
