"""Kicks of a run whose delivery has not begun are folded into that one delivery; a delivery
cancelled before it began does not swallow the kicks that come after; only a few runs are
delivered at once."""

from __future__ import annotations

import asyncio

from bot.domain.versions import Ref
from bot.slack.outbox import MAX_DELIVERIES
from tests.slack.harness import CHANNEL, SRE, Bot, thread_matches_ledger
from tests.slack.test_e2e import run_id_of


async def test_kicks_while_a_delivery_waits_make_one_delivery(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start customer-comms-outage product=Checkout")).text)
    await bot.settle()
    outbox = bot.runtime.outbox
    before = bot.emulator.count("chat.update")
    with outbox.foreground.request():  # an ack in flight: deliveries wait for their turn
        for _ in range(5):
            outbox.kick(run_id)
        assert len(outbox.pending()) == 1
    await outbox.drain()
    assert bot.emulator.count("chat.update") - before <= 1  # one sync, at most one redraw


async def test_a_delivery_cancelled_before_it_began_does_not_swallow_later_kicks(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start customer-comms-outage product=Checkout")).text)
    await bot.settle()
    outbox = bot.runtime.outbox
    with outbox.foreground.request():
        outbox.kick(run_id)
        (waiting,) = outbox.pending()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        outbox.kick(run_id)
        assert len(outbox.pending()) == 1
    await outbox.drain()


async def test_only_a_few_runs_are_delivered_at_once(bot: Bot) -> None:
    service, outbox = bot.runtime.service, bot.runtime.outbox
    run_ids = [
        (
            await service.start(
                Ref("disk-full-triage"), {"host": f"db{i}"}, requester=SRE, channel=CHANNEL
            )
        )[0]
        for i in range(MAX_DELIVERIES + 4)
    ]
    running, most = 0, 0
    sync = outbox._sync

    async def counted(run_id: str) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.02)  # a slow Slack: every delivery is under way at once
            await sync(run_id)
        finally:
            running -= 1

    outbox._sync = counted  # type: ignore[method-assign]
    for run_id in run_ids:
        outbox.kick(run_id)
    await outbox.drain()
    assert most == MAX_DELIVERIES
    assert outbox._locks == {}  # no lock is kept per run once its deliveries are done
    for run_id in run_ids:
        shown, expected = await thread_matches_ledger(bot, run_id)
        assert shown == expected
