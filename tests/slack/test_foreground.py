"""Background posting waits for the acknowledgements in flight, but never for long."""

from __future__ import annotations

import asyncio

from bot.slack.foreground import Foreground


async def test_an_idle_bot_lets_posting_go_at_once() -> None:
    foreground = Foreground()
    await asyncio.wait_for(foreground.wait_turn(longest=30), 0.5)


async def test_posting_waits_until_the_last_request_in_flight_is_acked() -> None:
    foreground = Foreground()
    order: list[str] = []

    async def request(name: str, seconds: float) -> None:
        with foreground.request():
            await asyncio.sleep(seconds)
            order.append(name)

    async def post() -> None:
        await asyncio.sleep(0.01)  # the requests are in flight by now
        await foreground.wait_turn(longest=30)
        order.append("post")

    await asyncio.gather(request("short", 0.05), request("long", 0.15), post())
    assert order == ["short", "long", "post"]


async def test_a_request_that_never_ends_delays_posting_only_so_long() -> None:
    foreground = Foreground()
    blocker = asyncio.Event()

    async def stuck() -> None:
        with foreground.request():
            await blocker.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await foreground.wait_turn(longest=0.1)
    assert loop.time() - started >= 0.1
    blocker.set()
    await task


async def test_posting_waits_for_a_quiet_moment_between_requests_of_a_burst() -> None:
    foreground = Foreground(quiet=0.02)
    order: list[str] = []

    async def burst() -> None:
        for name in ("first", "second"):
            with foreground.request():
                await asyncio.sleep(0.03)
                order.append(name)
            await asyncio.sleep(0.002)  # the next click of the burst is on its way

    async def post() -> None:
        await asyncio.sleep(0.01)  # the first request is in flight by now
        await foreground.wait_turn(longest=30)
        order.append("post")

    await asyncio.gather(burst(), post())
    assert order == ["first", "second", "post"]


async def burst_with_a_post(foreground: Foreground, requests: int) -> list[str]:
    """`requests` short requests 20 ms apart, and a post waiting for its turn meanwhile."""
    order: list[str] = []

    async def burst() -> None:
        for i in range(requests):
            with foreground.request():
                await asyncio.sleep(0.001)
                order.append(f"r{i}")
            await asyncio.sleep(0.02)

    async def post() -> None:
        await asyncio.sleep(0.07)  # some requests are answered by now
        await foreground.wait_turn(longest=30)
        order.append("post")

    await asyncio.gather(burst(), post())
    return order


async def test_under_heavy_traffic_posting_waits_for_a_longer_lull() -> None:
    # Not busy: the 20 ms gaps between requests are lulls enough for the post.
    calm = await burst_with_a_post(Foreground(quiet=0.005, busy_quiet=0.1, busy_rate=100), 8)
    assert calm[-1] != "post"
    # Busy (more than 3 answers in the last second): the post waits for the burst to end.
    busy = await burst_with_a_post(Foreground(quiet=0.005, busy_quiet=0.1, busy_rate=3), 8)
    assert busy[-1] == "post" and len(busy) == 9
