"""What the benchmark scripts share: a real `serve` process against an in-process emulator,
percentiles, resident memory and a description of the machine.

The bot under test always runs as its own process (`python -m bot serve`), so the emulator and
the load generator in the bench process never take its CPU time; the bare-bolt baseline runs
as its own process too (bench/bare_bolt.py).
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot import catalog_service, event_loop  # noqa: E402
from bot.catalog import load_catalog_and_hooks  # noqa: E402
from bot.emulator.people import find_element  # noqa: E402
from bot.emulator.processes import BotProcess, bot_env, free_port  # noqa: E402
from bot.emulator.server import Emulator, running_emulator  # noqa: E402
from bot.emulator.workspace import Message, Workspace  # noqa: E402
from bot.ledger.sqlite_store import SqliteStore  # noqa: E402

USER, CHANNEL = "U0SRE0001", "C0INCIDENT"
RUNBOOKS = REPO / "runbooks"
DONE = "runbook.step.done"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile of seconds, in milliseconds (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, event loop {event_loop.name()}"
    )


async def publish_catalog(db: Path) -> None:
    store = await SqliteStore.open(db)
    try:
        checked, _ = await load_catalog_and_hooks(RUNBOOKS)
        await catalog_service.publish(store, checked.runbooks, author="bench", message="bench")
    finally:
        await store.close()


@dataclass
class Served:
    emulator: Emulator
    bot: BotProcess
    db: Path

    @property
    def workspace(self) -> Workspace:
        return self.emulator.workspace


@asynccontextmanager
async def served_bot(tmp: Path, *, publish: bool = True) -> AsyncIterator[Served]:
    """An emulator here and `serve` as a subprocess posting to it and receiving its requests."""
    db = tmp / "bench.db"
    if publish:
        await publish_catalog(db)
    async with running_emulator(Workspace.demo()) as emulator:
        bot = BotProcess(bot_env(emulator, db, RUNBOOKS, tmp / "demo"), free_port(), quiet=True)
        try:
            await bot.start()
            emulator.bot_url = bot.url
            yield Served(emulator, bot, db)
        finally:
            await bot.stop_or_kill()


async def outbox(url: str) -> tuple[int, int]:
    """The outbox backlog (entries not yet posted) and the deliveries under way, as the bot's
    own /metrics reports them."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        text = await response.text()
    figures = []
    for name in ("runbook_outbox_backlog", "runbook_outbox_deliveries"):
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"no {name} on /metrics"
        figures.append(int(float(match.group(1))))
    return figures[0], figures[1]


async def drained_in(url: str, seconds: float = 120) -> float:
    """Wait until the bot has posted and redrawn everything decided so far; the seconds it took."""
    started = time.monotonic()
    while await outbox(url) != (0, 0):
        if time.monotonic() - started > seconds:
            raise TimeoutError("the outbox did not drain")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def done_cards(ws: Workspace) -> list[Message]:
    """Cards with a Done button: one per run of the checklist runbook, on its first step."""
    return [m for m in ws.messages if find_element(m.blocks, DONE) is not None]


async def start_runs(served: Served, count: int, *, concurrency: int = 8) -> list[Message]:
    """Start `count` runs of the checklist runbook by slash command; their first cards."""
    before = len(done_cards(served.workspace))
    todo = list(range(count))

    async def worker() -> None:
        while todo:
            todo.pop()
            await served.emulator.slash(
                USER, CHANNEL, "start customer-comms-outage product=Checkout"
            )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await until(lambda: len(done_cards(served.workspace)) >= before + count, 120)
    return done_cards(served.workspace)[before:]


async def until(condition: Any, seconds: float) -> None:
    """Poll `condition` until it holds; raise after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not get there in time")
        await asyncio.sleep(0.02)
