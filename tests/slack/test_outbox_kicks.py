"""Kicks of a run whose delivery has not begun are folded into that one delivery; a delivery
cancelled before it began does not swallow the kicks that come after."""

from __future__ import annotations

import asyncio

from tests.slack.harness import Bot
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
