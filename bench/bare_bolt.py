"""The baseline for bench/ack.py: bolt's AsyncApp behind the bot's own aiohttp adapter, acking
every /runbook command and runbook button without doing anything. It runs as its own process,
on the same event loop as `serve`, so the two are measured alike.

Usage: python bench/bare_bolt.py PORT [--process-before-response]
(SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and SLACK_API_URL from the environment, as for serve)

By default bolt runs each listener in a task and polls for its ack every 10 ms: that is the
baseline the targets use. With --process-before-response it answers when the listener returns,
the mode `serve` runs in; bench/ack.py prints that floor too, for reference.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import event_loop
from bot.emulator.site import start_site
from bot.slack.metrics import Metrics
from bot.slack.web import build_web_app

READY = "bare bolt listening"


def bare_app(secret: str, token: str, api_url: str, *, before_response: bool = False) -> AsyncApp:
    """Bolt checks its token with auth.test on the first request, so it talks to the emulator."""
    app = AsyncApp(
        client=AsyncWebClient(token=token, base_url=api_url),
        signing_secret=secret,
        process_before_response=before_response,
    )

    async def just_ack(ack: Callable[..., Awaitable[None]]) -> None:
        await ack()

    app.command("/runbook")(just_ack)
    app.action(re.compile(r"^runbook\."))(just_ack)
    return app


async def serve(port: int, *, before_response: bool) -> None:
    env = os.environ
    app = bare_app(
        env["SLACK_SIGNING_SECRET"],
        env["SLACK_BOT_TOKEN"],
        env["SLACK_API_URL"],
        before_response=before_response,
    )

    async def no_backlog() -> int:
        return 0

    runner, url = await start_site(build_web_app(app, Metrics(), no_backlog), port=port)
    print(f"{READY} on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    event_loop.run(
        serve(int(sys.argv[1]), before_response="--process-before-response" in sys.argv[2:])
    )
