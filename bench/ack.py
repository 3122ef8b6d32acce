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

Each cell (request kind x concurrency) is measured in interleaved rounds, ours, bare, bare on
return, and again, over keep-alive connections opened before timing, so a slow spell of this
shared machine falls on all three alike. Between our rounds the outbox posts what the clicks
decided, untimed, before bare's turn. The last column is each server's CPU time (all threads,
from /proc schedstat) per request during its rounds: at concurrency 64 the closed loop is bound
by CPU, and that column says why a ratio is what it is.

Targets: our p99 within 1.25x of bare bolt at every concurrency, and under 100 ms.

Usage: python bench/ack.py [--requests N] [--rounds R] [--concurrency 1,16,64] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    Served,
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


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of a process so far (Linux schedstat, nanoseconds)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


@dataclass
class Target:
    """One server under test, with its own keep-alive connections at each concurrency."""

    name: str
    url: str
    pid: int
    latencies: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[str, int], float] = field(default_factory=dict)


async def measure(
    session: aiohttp.ClientSession,
    url: str,
    emulator: Emulator,
    bodies: list[Body],
    concurrency: int,
) -> list[float]:
    """Latencies in seconds. This process's own garbage collector is held off meanwhile: it
    holds the emulator's whole workspace, and a full collection here would be charged to
    whichever app happened to be measured."""
    latencies: list[float] = []
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body, content_type = queue.pop()
            headers = emulator.signed_headers(body, content_type)
            start = time.perf_counter()
            async with session.post(url, data=body.encode(), headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - start)

    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        gc.enable()
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


async def run(requests: int, levels: list[int], rounds: int) -> list[dict[str, Any]]:
    """Each cell is measured in `rounds` interleaved turns (ours, bare, bare on return, and
    again), so a slow spell of this shared machine falls on all three alike."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with served_bot(Path(tmp)) as served:
            emulator = served.emulator
            bare, bare_url = await start_bare(emulator, Path(tmp))
            on_return, on_return_url = await start_bare(
                emulator, Path(tmp), "--process-before-response"
            )
            assert served.bot.proc is not None
            targets = [
                Target("ours", served.bot.url, served.bot.proc.pid),
                Target("bare", bare_url, bare.pid),
                Target("on_return", on_return_url, on_return.pid),
            ]
            try:
                total = requests * len(levels) + 5
                cards = await start_runs(served, total)
                await drained_in(served.bot.base_url)  # the new runs' threads, before timing
                clicks = [
                    (interactive_body(emulator.action_payload(USER, CHANNEL, m.ts, DONE)), FORM)
                    for m in cards
                ]
                status = slash_body(emulator, "status nope")
                async with contextlib.AsyncExitStack() as stack:
                    for i, level in enumerate(levels):
                        batch = clicks[5:][i * requests : (i + 1) * requests]
                        await measure_level(
                            stack,
                            served,
                            targets,
                            level,
                            batch,
                            status,
                            clicks[:5] if i == 0 else [],
                            rounds,
                        )
                        for kind in ("click", "/runbook status"):
                            rows.append(
                                {"kind": kind, "concurrency": level}
                                | {t.name: t.latencies[kind, level] for t in targets}
                                | {f"{t.name}_cpu": t.cpu[kind, level] for t in targets}
                            )
            finally:
                for proc in (bare, on_return):
                    proc.terminate()
                    await proc.wait()
    return rows


async def measure_level(
    stack: contextlib.AsyncExitStack,
    served: Served,
    targets: list[Target],
    level: int,
    clicks: list[Body],
    status: Body,
    warm_clicks: list[Body],
    rounds: int,
) -> None:
    """Both kinds of request at one concurrency, interleaved across the targets; CPU per
    request is each server's CPU time over its turns divided by the requests in them."""
    emulator = served.emulator
    sessions = {}
    for target in targets:  # open every connection, and warm up (auth.test, imports)
        sessions[target.name] = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=level))
        )
        await measure(sessions[target.name], target.url, emulator, [status] * max(20, level), level)
    if warm_clicks:
        await measure(sessions["ours"], targets[0].url, emulator, warm_clicks, 1)
        await drained_in(served.bot.base_url)
    for kind, bodies in (("click", clicks), ("/runbook status", [status] * len(clicks))):
        size = -(-len(bodies) // rounds)
        for start in range(0, len(bodies), size):
            chunk = bodies[start : start + size]
            for target in targets:
                before = cpu_seconds(target.pid)
                latencies = await measure(sessions[target.name], target.url, emulator, chunk, level)
                spent = cpu_seconds(target.pid) - before
                target.latencies.setdefault((kind, level), []).extend(latencies)
                target.cpu[kind, level] = target.cpu.get((kind, level), 0.0) + spent / len(bodies)
                if target.name == "ours":  # what the clicks decided is posted before bare's turn
                    await drained_in(served.bot.base_url)


def report(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    out, all_met = [], True
    print(
        f"{'request':<17}{'conc':>5}  {'ours p50/p95/p99 ms':>22}  {'bare p50/p95/p99 ms':>22}  {'p99 ratio':>9}"
        f"  {'on return p99':>13}  {'CPU ms/req ours/bare/on return':>30}  target"
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
            f"{pct(f, 99):13.1f}  "
            f"{row['ours_cpu'] * 1e3:14.2f}/{row['bare_cpu'] * 1e3:.2f}/{row['on_return_cpu'] * 1e3:.2f}  "
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
                "cpu_ms_per_request": {
                    name: round(row[f"{name}_cpu"] * 1e3, 3)
                    for name in ("ours", "bare", "on_return")
                },
                "met": met,
            }
        )
    return out, all_met


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=600, help="requests per cell")
    parser.add_argument(
        "--rounds", type=int, default=6, help="interleaved turns per cell (ours, bare, on return)"
    )
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
    out, met = report(event_loop.run(run(args.requests, levels, args.rounds)))
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
