"""`runbook-bot serve` as a real subprocess in Slack HTTP mode, pointed at an emulator: for the
reliability tests and the benchmarks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from asyncio.subprocess import PIPE, Process
from dataclasses import dataclass, field
from pathlib import Path

from bot.emulator.server import Emulator


def free_port() -> int:
    """A loopback port nobody is listening on, for a process about to be started."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(emulator: Emulator, db: Path, runbooks_dir: Path, demo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        SLACK_BOT_TOKEN=emulator.token,
        SLACK_SIGNING_SECRET=emulator.signing_secret,
        SLACK_API_URL=emulator.api_url,
        RUNBOOK_DB_URL=f"sqlite:///{db}",
        RUNBOOKS_DIR=str(runbooks_dir),
        RUNBOOK_DEMO_DIR=str(demo),
    )
    return env


@dataclass
class BotProcess:
    env: dict[str, str]
    port: int
    proc: Process | None = None
    recovered: list[str] = field(default_factory=list)
    quiet: bool = False  # drop the bot's log lines (benchmarks); tests keep them for failures

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--port",
            str(self.port),
            env=self.env,
            stdout=PIPE,
            stderr=asyncio.subprocess.DEVNULL if self.quiet else None,
        )
        assert self.proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
            assert line, "serve exited while starting"
            if line.startswith("recovered "):
                self.recovered.append(line.strip())
            if line.startswith("runbook-bot: Slack over HTTP"):
                return

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(self.proc.wait(), 20) == 0

    @property
    def base_url(self) -> str:
        """Where /healthz and /metrics are."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/slack/events"

    async def stop_or_kill(self) -> None:
        """For a test's cleanup: never leave a bot process behind."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
