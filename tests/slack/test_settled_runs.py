"""Ended runs whose threads are complete are settled: start-up and the backlog metric skip them,
so their cost does not grow with history, and an entry that reaches a settled run later is
still posted after a crash."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.versions import Ref
from bot.ledger.chain import Entry, NewEvent
from bot.ledger.sqlite_store import SqliteStore
from bot.loaded_run import LoadedRun
from bot.slack.delivery import DeliveryStore
from bot.slack.ids import ActionId
from bot.slack.outbox import Outbox
from tests.slack.harness import CHANNEL, SRE, Bot, find_card, thread_matches_ledger


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


async def test_an_entry_after_the_end_redraws_only_its_own_card(bot: Bot) -> None:
    """A run that ended in this process keeps its place among the redrawn: a note amended
    afterwards redraws that step's card (and the root, which shows the run's status), not every
    card of the run again."""
    run_id = await started(bot)
    step = (await bot.runtime.service.load(run_id)).state.current
    assert step is not None
    await bot.runtime.service.done(run_id, step.id, actor=SRE, note="posted")
    bot.runtime.outbox.kick(run_id)
    await bot.settle()
    await bot.runtime.service.abort(run_id, actor=SRE, reason="drill over")
    bot.runtime.outbox.kick(run_id)
    await bot.settle()
    before = bot.emulator.count("chat.update")
    await bot.runtime.service.amend(run_id, step.id, actor=SRE, note="posted at 10:02")
    bot.runtime.outbox.kick(run_id)
    await bot.settle()
    assert bot.emulator.count("chat.update") - before == 2  # that card, and the root's status
    shown, expected = await thread_matches_ledger(bot, run_id)
    assert shown == expected


@dataclass
class DiesBeforeTheRedraw(Outbox):
    """An outbox whose process is killed as it begins to redraw a run's cards and root."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def _refresh(
        self, loaded: LoadedRun, channel: str, root_ts: str, steps: dict[str, Entry]
    ) -> None:
        self.reached.set()
        await asyncio.Event().wait()  # the process dies here; nothing after this runs


async def test_an_ended_run_whose_redraw_a_crash_cut_short_is_redrawn_at_the_next_start(
    bot: Bot,
) -> None:
    """The process posts a run's last entries and dies before it redraws the cards and root:
    every entry is in the thread, so nothing is unsent, but the root still offers Abort and
    the open step's card its buttons. The next start-up finishes the job."""
    run_id = await started(bot)
    bot.runtime.outbox.kick(run_id)
    await bot.settle()
    await bot.runtime.service.abort(run_id, actor=SRE, reason="drill over")
    crashed = DiesBeforeTheRedraw(
        bot.runtime.store, bot.runtime.outbox.delivery, bot.runtime.client, bot.runtime.service
    )
    crashed.kick(run_id)
    await asyncio.wait_for(crashed.reached.wait(), 30)
    for task in crashed.pending():
        task.cancel()
    await asyncio.gather(*crashed.pending(), return_exceptions=True)
    await bot.runtime.outbox.delivery.release(run_id, crashed.owner)  # its lease, as if expired
    shown, expected = await thread_matches_ledger(bot, run_id)
    assert shown == expected and await bot.runtime.outbox.delivery.unsent() == 0
    assert find_card(bot.workspace, ActionId.ABORT.value, run_id=run_id) is not None
    assert find_card(bot.workspace, ActionId.STEP_DONE.value, run_id=run_id) is not None

    restarted = Outbox(
        bot.runtime.store, bot.runtime.outbox.delivery, bot.runtime.client, bot.runtime.service
    )
    await restarted.resume_all()
    await restarted.drain()
    assert find_card(bot.workspace, ActionId.ABORT.value, run_id=run_id) is None
    assert find_card(bot.workspace, ActionId.STEP_DONE.value, run_id=run_id) is None
    assert settled(bot.runtime.outbox.delivery.path)[run_id] == 1
    assert await bot.runtime.outbox.delivery.runs_with_unsent() == []  # and never again


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
