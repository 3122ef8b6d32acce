"""Socket Mode against the emulator's WebSocket, which speaks Slack's envelope protocol,
including a dropped connection that the watchdog must rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.slack.socket_mode import run_socket_mode
from tests.slack.harness import CHANNEL, SRE, running_bot

APP_TOKEN = "xapp-emulator-token"


async def eventually(check: Callable[[], bool | Awaitable[bool]], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        result = check()
        if await result if not isinstance(result, bool) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


async def test_slash_commands_arrive_over_the_socket_and_survive_a_dropped_connection(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    async with running_bot(tmp_path, runbooks_dir, app_token=APP_TOKEN) as bot:
        emulator, runtime = bot.emulator, bot.runtime
        emulator.bot_url = ""  # nothing over HTTP: the socket is the only way in
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_socket_mode(
                runtime.app,
                app_token=APP_TOKEN,
                client=runtime.client,
                stop=stop,
                check_seconds=0.2,
                auto_reconnect=False,  # so only the watchdog can bring the connection back
            )
        )
        await eventually(lambda: emulator.connections == 1)
        answer = await emulator.slash(SRE, CHANNEL, "start customer-comms-outage product=Checkout")
        assert "Started run `run-" in answer.text

        await emulator.drop_connections()
        await eventually(lambda: emulator.connections >= 2 and emulator._live_socket() is not None)
        status = await emulator.slash(SRE, CHANNEL, "status")
        assert "customer-comms-outage" in status.text
        await runtime.listeners.drain()
        stop.set()
        assert await task >= 1  # the watchdog rebuilt the client
        runs = await runtime.store.runs()
        assert len(runs) == 1 and runs[0]["runbook"] == "customer-comms-outage"
        assert bot.workspace.roots()  # the run's root message was posted
