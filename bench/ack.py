"""Acknowledgement latency of /runbook and of button clicks, over loopback HTTP with real
signatures, against a bare bolt AsyncApp that only acks the same requests (the framework's
floor), measured in the same run.

Ours: the real Slack runtime (ledger on a temporary SQLite file, synchronous=FULL, the outbox
posting to an in-process emulator after each ack). Each click is a real decision (marking a
checklist step done on its own run), so it includes the durable append. Bare: bolt's AsyncApp
behind the same aiohttp adapter, acking without doing anything.

Targets: our p99 within 1.25x of bare bolt at every concurrency, and under 100 ms.

Usage: python bench/ack.py [--requests N] [--concurrency 1,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot import catalog_service  # noqa: E402
from bot.catalog import load_catalog_and_hooks  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain.versions import Ref  # noqa: E402
from bot.emulator import payloads  # noqa: E402
from bot.emulator.server import (  # noqa: E402
    FORM,
    Emulator,
    interactive_body,
    running_emulator,
    start_site,
)
from bot.emulator.workspace import Workspace  # noqa: E402
from bot.ledger.sqlite_store import SqliteStore  # noqa: E402
from bot.slack.metrics import Metrics  # noqa: E402
from bot.slack.runtime import slack_runtime  # noqa: E402
from bot.slack.web import build_web_app  # noqa: E402

USER, CHANNEL = "U0SRE0001", "C0INCIDENT"
Body = tuple[str, str]  # (body, content type)


def slash_body(ws: Workspace, text: str) -> Body:
    form = payloads.slash_command(
        ws,
        ws.users[USER],
        ws.channels[CHANNEL],
        text,
        command="/runbook",
        trigger_id="t",
        response_url="http://127.0.0.1:9/r",
    )
    return urlencode(form), FORM


def click_bodies(emulator: Emulator, count: int) -> list[Body]:
    """One Done click per run, on the card the outbox posted for its first step."""
    ws, bodies = emulator.workspace, []
    for message in ws.messages:
        if Emulator.find_element(message.blocks, "runbook.step.done") is not None:
            click = emulator.action_payload(USER, CHANNEL, message.ts, "runbook.step.done")
            bodies.append((interactive_body(click), FORM))
    assert len(bodies) >= count, f"only {len(bodies)} cards were posted"
    return bodies[:count]


async def measure(
    url: str, emulator: Emulator, bodies: list[Body], concurrency: int
) -> list[float]:
    latencies: list[float] = []
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            while queue:
                body, content_type = queue.pop()
                headers = emulator.signed_headers(body, content_type)
                start = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def bare_bolt(secret: str, client: AsyncWebClient) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=secret)

    async def just_ack(ack: Callable[..., Awaitable[None]]) -> None:
        await ack()

    app.command("/runbook")(just_ack)
    app.action(re.compile(r"^runbook\."))(just_ack)
    return app


async def run(requests: int, levels: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = await SqliteStore.open(db)
        checked, _ = await load_catalog_and_hooks(REPO / "runbooks")
        await catalog_service.publish(store, checked.runbooks, author="bench", message="bench")
        await store.close()
        async with running_emulator(Workspace.demo()) as emulator:
            settings = Settings(
                slack_bot_token=SecretStr(emulator.token),
                slack_signing_secret=SecretStr(emulator.signing_secret),
                slack_api_url=emulator.api_url,
                runbook_db_url=f"sqlite:///{db}",
                runbooks_dir=REPO / "runbooks",
            )
            async with slack_runtime(settings) as runtime:
                ours_runner, ours_url = await start_site(runtime.web_app)
                bare = bare_bolt(emulator.signing_secret, runtime.client)
                bare_runner, bare_url = await start_site(
                    build_web_app(bare, Metrics(), lambda: asyncio.sleep(0, 0))
                )
                total = requests * len(levels)
                for _ in range(total + 5):
                    run_id, _ = await runtime.service.start(
                        Ref("customer-comms-outage"),
                        {"product": "Checkout"},
                        requester=USER,
                        channel=CHANNEL,
                    )
                    runtime.outbox.kick(run_id)
                await runtime.listeners.drain()
                clicks = click_bodies(emulator, total + 5)
                status = slash_body(emulator.workspace, "status nope")
                # Warm both up (auth.test, imports, connection pools).
                for url in (ours_url, bare_url):
                    await measure(f"{url}/slack/events", emulator, [status] * 20, 4)
                await measure(f"{ours_url}/slack/events", emulator, clicks[:5], 1)
                clicks = clicks[5:]
                for i, level in enumerate(levels):
                    batch = clicks[i * requests : (i + 1) * requests]
                    for kind, bodies in (
                        ("click", batch),
                        ("/runbook status", [status] * requests),
                    ):
                        ours = await measure(f"{ours_url}/slack/events", emulator, bodies, level)
                        await runtime.listeners.drain()
                        bare_lat = await measure(
                            f"{bare_url}/slack/events", emulator, bodies, level
                        )
                        rows.append(
                            {"kind": kind, "concurrency": level, "ours": ours, "bare": bare_lat}
                        )
                await bare_runner.cleanup()
                await ours_runner.cleanup()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", default="1,16,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    rows = asyncio.run(run(args.requests, levels))
    print(
        f"{'request':<17}{'conc':>5}  {'ours p50/p95/p99 ms':>22}  {'bare p50/p95/p99 ms':>22}  {'p99 ratio':>9}  target"
    )
    worst = 0.0
    for row in rows:
        o, b = row["ours"], row["bare"]
        ratio = pct(o, 99) / pct(b, 99)
        worst = max(worst, ratio)
        ok = ratio <= 1.25 and pct(o, 99) < 100
        print(
            f"{row['kind']:<17}{row['concurrency']:>5}  "
            f"{pct(o, 50):6.1f}/{pct(o, 95):6.1f}/{pct(o, 99):6.1f}  "
            f"{pct(b, 50):6.1f}/{pct(b, 95):6.1f}/{pct(b, 99):6.1f}  {ratio:9.2f}  "
            f"{'met' if ok else 'MISSED'} (p99 <= 1.25x bare and < 100 ms)"
        )
    print(
        f"worst p99 ratio: {worst:.2f} (mean of medians ours/bare: "
        f"{statistics.mean(pct(r['ours'], 50) / pct(r['bare'], 50) for r in rows):.2f})"
    )


if __name__ == "__main__":
    main()
