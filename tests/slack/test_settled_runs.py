"""Ended runs whose threads are complete are settled: start-up and the backlog metric skip them,
so their cost does not grow with history, and an entry that reaches a settled run later is
still posted after a crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.domain.versions import Ref
from bot.ledger.chain import NewEvent
from bot.ledger.sqlite_store import SqliteStore
from bot.slack.delivery import DeliveryStore
from tests.slack.harness import CHANNEL, SRE, Bot, thread_matches_ledger


def settled(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT run_id, settled FROM slack_threads").fetchall())


async def started(bot: Bot) -> str:
    run_id, _ = await bot.runtime.service.start(
        Ref("customer-comms-outage"), {"product": "Checkout"}, requester=SRE, channel=CHANNEL
    )
    return run_id


async def test_an_ended_run_is_settled_once_its_thread_is_complete(bot: Bot) -> None:
    ended, active = await started(bot), await started(bot)
    await bot.runtime.service.abort(ended, actor=SRE, reason="drill over")
    for run_id in (ended, active):
        bot.runtime.outbox.kick(run_id)
    await bot.settle()
    assert settled(bot.runtime.outbox.delivery.path) == {ended: 1, active: 0}
    assert await bot.runtime.outbox.delivery.runs_with_unsent() == []


async def test_a_late_entry_on_a_settled_run_is_posted_after_a_crash(bot: Bot) -> None:
    run_id = await started(bot)
    step = (await bot.runtime.service.load(run_id)).state.current
    assert step is not None
    await bot.runtime.service.done(run_id, step.id, actor=SRE, note="posted")
    await bot.runtime.service.abort(run_id, actor=SRE, reason="drill over")
    bot.runtime.outbox.kick(run_id)
    await bot.settle()
    assert settled(bot.runtime.outbox.delivery.path)[run_id] == 1
    # An auditor amends a note; the process dies before the post (no kick).
    await bot.runtime.service.amend(run_id, step.id, actor=SRE, note="posted at 10:02")
    shown, expected = await thread_matches_ledger(bot, run_id)
    assert shown != expected
    assert await bot.runtime.outbox.delivery.unsent() == 0  # settled runs are outside the backlog
    await bot.runtime.outbox.resume_all()  # the next start-up
    await bot.settle()
    shown, expected = await thread_matches_ledger(bot, run_id)
    assert shown == expected
    assert settled(bot.runtime.outbox.delivery.path)[run_id] == 1


async def test_a_database_from_before_settling_is_settled_on_open(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    store = await SqliteStore.open(db)
    try:
        await store.append(
            [
                NewEvent("run.started", SRE, {"runbook": "x"}, run_id=run_id, run_version=1)
                for run_id in ("run-done", "run-gap", "run-live")
            ]
        )
        ends = [
            NewEvent("run.aborted", SRE, {"reason": "r"}, run_id=run_id, run_version=2)
            for run_id in ("run-done", "run-gap")
        ]
        entries = [e for e in await store.read() if e.run_id] + await store.append(ends)
        head, _ = await store.head()
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:  # the delivery tables as they were
        conn.execute(
            "CREATE TABLE slack_threads (run_id TEXT PRIMARY KEY, channel TEXT, root_ts TEXT)"
        )
        conn.execute(
            "CREATE TABLE slack_posts (run_id TEXT, seq INTEGER, state TEXT, ts TEXT,"
            " PRIMARY KEY (run_id, seq))"
        )
        for run_id in ("run-done", "run-gap", "run-live"):
            conn.execute("INSERT INTO slack_threads VALUES (?, 'C1', '1.0')", (run_id,))
        posted = [e for e in entries if not (e.run_id == "run-gap" and e.kind == "run.aborted")]
        conn.executemany(
            "INSERT INTO slack_posts VALUES (?, ?, 'sent', '2.0')",
            [(e.run_id, e.seq) for e in posted],
        )
    delivery = await DeliveryStore.open(db)
    try:
        assert settled(db) == {"run-done": 1, "run-gap": 0, "run-live": 0}
        assert await delivery.unsent() == 1
        assert sorted(await delivery.runs_with_unsent()) == ["run-gap"]
    finally:
        await delivery.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT seq FROM slack_watermark").fetchone() == (head,)
