"""Socket Mode against a local WebSocket that speaks Slack's envelope protocol, including a
dropped connection that the watchdog must rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import SecretStr

from bot.config import Settings
from bot.slack.runtime import slack_runtime
from bot.slack.socket_mode import run_socket_mode
from tests.service_fixtures import publish_all
from tests.slack.fake_slack import APP_TOKEN, TOKEN, FakeSlack, running_fake


async def eventually(check: Callable[[], bool | Awaitable[bool]], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        result = check()
        if await result if not isinstance(result, bool) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


def command(envelope_id: str, text: str) -> dict[str, object]:
    payload = {
        "command": "/runbook",
        "text": text,
        "user_id": "U0SRE0001",
        "channel_id": "C0INCIDENT",
        "team_id": "T1",
        "trigger_id": "t",
        "token": "x",
    }
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": payload,
    }


async def test_slash_commands_arrive_over_the_socket_and_survive_a_dropped_connection(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    db = tmp_path / "socket.db"
    await publish_all(db, runbooks_dir)
    async with running_fake() as fake:
        settings = Settings(
            slack_bot_token=SecretStr(TOKEN),
            slack_signing_secret=SecretStr("unused-in-socket-mode"),
            slack_app_token=SecretStr(APP_TOKEN),
            slack_api_url=fake.url,
            runbook_db_url=f"sqlite:///{db}",
            runbooks_dir=runbooks_dir,
        )
        async with slack_runtime(settings) as runtime:
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
            await eventually(lambda: fake.connections == 1)
            await fake.deliver(command("env-1", "start customer-comms-outage product=Checkout"))
            await eventually(lambda: any(r.get("envelope_id") == "env-1" for r in fake.replies))
            reply = next(r for r in fake.replies if r["envelope_id"] == "env-1")
            assert "Started run `run-" in str(reply.get("payload"))

            await fake.drop_connections()
            await eventually(lambda: fake.connections >= 2)
            await fake.deliver(command("env-2", "status"))
            await eventually(lambda: any(r.get("envelope_id") == "env-2" for r in fake.replies))
            await runtime.listeners.drain()
            stop.set()
            assert await task >= 1  # the watchdog rebuilt the client
            runs = await runtime.store.runs()
            assert len(runs) == 1 and runs[0]["runbook"] == "customer-comms-outage"
            assert _posted_root(fake)


def _posted_root(fake: FakeSlack) -> bool:
    return any(not m.get("thread_ts") for m in fake.messages)
