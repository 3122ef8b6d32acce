"""Acknowledgement latency of /runbook and of button clicks, over loopback HTTP with real
signatures, against a bare bolt AsyncApp that only acks the same requests (the framework's
floor), measured in the same run.

Ours: `python -m bot serve` as its own process (ledger on a temporary SQLite file with
synchronous=FULL, the outbox posting every decision to the emulator in this process). Each click
is a real decision (marking a checklist step done on its own run), so it includes the durable
append. Bare: bench/bare_bolt.py, bolt's AsyncApp behind the same aiohttp adapter in its own
process, acking without doing anything, in bolt's default mode: it runs the listener in a task
and polls for the ack every 10 ms, so that tick is its floor. `serve` runs bolt with
process_before_response (it answers when the listener returns, and every listener returns right
after its ack), so it has no such tick. The table also shows bare bolt in that mode ("bare, on
return"), the floor of a bot that does nothing at all, for reference; the targets are against
bolt's default, as the issue sets them.

Targets: our p99 within 1.25x of bare bolt at every concurrency, and under 100 ms.

Usage: python bench/ack.py [--requests N] [--concurrency 1,16,64] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    CHANNEL,
    DONE,
    REPO,
    USER,
    drained_in,
    machine,
    pct,
    served_bot,
    start_runs,
)
from bot import event_loop
from bot.emulator import payloads
from bot.emulator.processes import bot_env, free_port
from bot.emulator.server import FORM, Emulator, interactive_body

Body = tuple[str, str]  # (body, content type)
TARGET_RATIO, TARGET_MS = 1.25, 100.0


def slash_body(emulator: Emulator, text: str) -> Body:
    ws = emulator.workspace
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


async def measure(
    url: str, emulator: Emulator, bodies: list[Body], concurrency: int
) -> list[float]:
    """Latencies in seconds. This process's own garbage collector is held off meanwhile: it
    holds the emulator's whole workspace, and a full collection here would be charged to
    whichever app happened to be measured."""
    gc.collect()
    gc.disable()
    try:
        return await _measure(url, emulator, bodies, concurrency)
    finally:
        gc.enable()


async def _measure(
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


async def start_bare(
    emulator: Emulator, tmp: Path, *options: str
) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "bench" / "bare_bolt.py"),
        str(port),
        *options,
        env=bot_env(emulator, tmp / "unused.db", REPO / "runbooks", tmp),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert line.startswith("bare bolt listening"), line
    return proc, f"http://127.0.0.1:{port}/slack/events"


async def run(requests: int, levels: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with served_bot(Path(tmp)) as served:
            emulator = served.emulator
            bare, bare_url = await start_bare(emulator, Path(tmp))
            on_return, on_return_url = await start_bare(
                emulator, Path(tmp), "--process-before-response"
            )
            try:
                total = requests * len(levels) + 5
                cards = await start_runs(served, total)
                clicks = [
                    (interactive_body(emulator.action_payload(USER, CHANNEL, m.ts, DONE)), FORM)
                    for m in cards
                ]
                status = slash_body(emulator, "status nope")
                # Warm both up (auth.test, imports, connection pools).
                for url in (served.bot.url, bare_url, on_return_url):
                    await measure(url, emulator, [status] * 20, 4)
                await measure(served.bot.url, emulator, clicks[:5], 1)
                clicks = clicks[5:]
                for i, level in enumerate(levels):
                    batch = clicks[i * requests : (i + 1) * requests]
                    for kind, bodies in (
                        ("click", batch),
                        ("/runbook status", [status] * requests),
                    ):
                        ours = await measure(served.bot.url, emulator, bodies, level)
                        # The outbox posts and redraws what the clicks decided first.
                        await drained_in(served.bot.base_url)
                        bare_lat = await measure(bare_url, emulator, bodies, level)
                        floor = await measure(on_return_url, emulator, bodies, level)
                        rows.append(
                            {
                                "kind": kind,
                                "concurrency": level,
                                "ours": ours,
                                "bare": bare_lat,
                                "on_return": floor,
                            }
                        )
            finally:
                for proc in (bare, on_return):
                    proc.terminate()
                    await proc.wait()
    return rows


def report(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    out, all_met = [], True
    print(
        f"{'request':<17}{'conc':>5}  {'ours p50/p95/p99 ms':>22}  {'bare p50/p95/p99 ms':>22}  {'p99 ratio':>9}"
        f"  {'bare, on return p99':>19}  target"
    )
    for row in rows:
        o, b, f = row["ours"], row["bare"], row["on_return"]
        ratio = pct(o, 99) / pct(b, 99)
        met = ratio <= TARGET_RATIO and pct(o, 99) < TARGET_MS
        all_met &= met
        print(
            f"{row['kind']:<17}{row['concurrency']:>5}  "
            f"{pct(o, 50):6.1f}/{pct(o, 95):6.1f}/{pct(o, 99):6.1f}  "
            f"{pct(b, 50):6.1f}/{pct(b, 95):6.1f}/{pct(b, 99):6.1f}  {ratio:9.2f}  "
            f"{pct(f, 99):19.1f}  "
            f"{'met' if met else 'MISSED'} (p99 <= {TARGET_RATIO}x bare and < {TARGET_MS:.0f} ms)"
        )
        out.append(
            {
                "kind": row["kind"],
                "concurrency": row["concurrency"],
                "ours_ms": [round(pct(o, p), 1) for p in (50, 95, 99)],
                "bare_ms": [round(pct(b, p), 1) for p in (50, 95, 99)],
                "bare_on_return_ms": [round(pct(f, p), 1) for p in (50, 95, 99)],
                "p99_ratio": round(ratio, 2),
                "met": met,
            }
        )
    return out, all_met


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="requests per cell")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"machine: {machine()}")
    print(
        "ours: `serve`, bolt answering when its listener returns (process_before_response).\n"
        "bare: bolt's default mode, acking only; it polls for the ack every 10 ms (the targets' baseline).\n"
        "bare, on return: bolt answering when its listener returns, acking only (for reference)."
    )
    out, met = report(event_loop.run(run(args.requests, levels)))
    print("all targets met" if met else "TARGET MISSED")
    if args.json:
        targets = [
            {
                "target": f"{r['kind']} ack at concurrency {r['concurrency']}: p99 {r['ours_ms'][2]} ms, "
                f"{r['p99_ratio']}x bare bolt's {r['bare_ms'][2]} ms (<= {TARGET_RATIO}x, < {TARGET_MS:.0f} ms)",
                "met": r["met"],
            }
            for r in out
        ]
        args.json.write_text(json.dumps({"ack": out, "targets": targets, "met": met}, indent=1))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
