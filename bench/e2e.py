"""End to end through the emulator: what a person sees, and what a busy incident day does.

`python -m bot serve` runs as its own process with its ledger on a temporary SQLite file
(synchronous=FULL); the emulator in this process plays Slack, so every click is a signed HTTP
request and every card update a real chat.update coming back.

1. Click to card updated: Done is pressed on one run's card at a steady 20 clicks/s; the time
   from sending the click to the emulator holding the redrawn card (its button gone).
   Target: p50 under 30 ms, p99 under 150 ms (checklist steps, so no hook time).
2. Sustained load: 500 active runs, 50 decisions/s for 60 s (a Done on a random run's current
   card, or a `/runbook start` that replaces a run the decisions completed). Afterwards every
   acknowledged decision is in the ledger once, the chain verifies, every entry of every run
   is in its thread once, and the outbox backlog drains to zero.
3. Memory: resident memory of `serve` idle (after start-up) and after the load.
   Target: under 120 MB idle.

Usage: python bench/e2e.py [--runs 500] [--rate 50] [--seconds 60] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    CHANNEL,
    DONE,
    RUNBOOKS,
    USER,
    Served,
    drained_in,
    machine,
    pct,
    rss_mb,
    served_bot,
    start_runs,
)
from bot import event_loop
from bot.catalog import load_catalog_and_hooks
from bot.emulator.people import find_element
from bot.emulator.workspace import Message
from bot.ledger.sqlite_store import SqliteStore

RUNBOOK = "customer-comms-outage"
START = f"start {RUNBOOK} product=Checkout"
TARGET_P50_MS, TARGET_P99_MS, TARGET_IDLE_MB = 30.0, 150.0, 120.0
MARKER = re.compile(r"^`#(\d+)`")


def button(message: Message) -> dict[str, Any] | None:
    """The Done button's decoded value (run and step), if the card still shows one."""
    found = find_element(message.blocks, DONE)
    return json.loads(found[0]["value"]) if found else None


async def card_latency(served: Served, count: int, rate: float) -> tuple[list[float], list[float]]:
    """Press Done on `count` fresh cards at `rate` per second; (ack, card-updated) seconds."""
    ws = served.workspace
    cards = await start_runs(served, count)
    sent: dict[str, float] = {}
    updated: dict[str, float] = {}
    acks: list[float] = []

    async def watch() -> None:
        while True:
            changed = ws.changed()
            now = time.perf_counter()
            for ts in [t for t in sent if t not in updated]:
                message = ws.message(CHANNEL, ts)
                if message is not None and button(message) is None:
                    updated[ts] = now - sent[ts]
            if len(updated) == len(cards):  # start_runs may hand back more than asked
                return
            await changed.wait()

    async def press(message: Message) -> None:
        sent[message.ts] = start = time.perf_counter()
        answer = await served.emulator.click(USER, CHANNEL, message.ts, DONE)
        assert answer.status == 200, answer
        acks.append(time.perf_counter() - start)

    watcher = asyncio.create_task(watch())
    presses = []
    t0 = time.perf_counter()
    for i, message in enumerate(cards):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        presses.append(asyncio.create_task(press(message)))
    await asyncio.gather(*presses)
    await asyncio.wait_for(watcher, 60)
    return acks, list(updated.values())


@dataclass
class Load:
    """What the sustained-load phase sent and had acknowledged."""

    clicks: list[tuple[str, str]] = field(default_factory=list)  # (run, step) acknowledged
    starts: int = 0
    refused: int = 0  # answers other than 200
    starved: int = 0  # ticks with no card to press yet
    acks: list[float] = field(default_factory=list)
    elapsed: float = 0.0


async def sustained(served: Served, runs: int, rate: float, seconds: float, last_step: str) -> Load:
    """Keep `runs` runs active and send `rate` decisions per second for `seconds`."""
    ws, emulator = served.workspace, served.emulator
    load = Load()
    scanned = 0
    candidates: list[Message] = []
    completing = 0  # runs whose last step was pressed; a start replaces each

    def refresh() -> None:
        nonlocal scanned
        for message in ws.messages[scanned:]:
            if message.thread_ts is not None and button(message) is not None:
                candidates.append(message)
        scanned = len(ws.messages)

    async def timed(coro: Any) -> bool:
        start = time.perf_counter()
        answer = await coro
        load.acks.append(time.perf_counter() - start)
        if answer.status != 200:
            load.refused += 1
        return bool(answer.status == 200)

    async def click(message: Message, value: dict[str, Any]) -> None:
        if await timed(emulator.click(USER, CHANNEL, message.ts, DONE)):
            load.clicks.append((value["run"], value["step"]))

    async def start() -> None:
        if await timed(emulator.slash(USER, CHANNEL, START)):
            load.starts += 1

    tasks: list[asyncio.Task[None]] = []
    total = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(total):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        if completing:
            completing -= 1
            tasks.append(asyncio.create_task(start()))
            continue
        refresh()
        value = None
        while candidates and value is None:
            message = candidates.pop(random.randrange(len(candidates)))
            value = button(message)
        if value is None:
            load.starved += 1
            continue
        if value["step"] == last_step:
            completing += 1
        tasks.append(asyncio.create_task(click(message, value)))
    await asyncio.gather(*tasks)
    load.elapsed = time.perf_counter() - t0
    return load


async def check(served: Served, load: Load, started_before: int) -> dict[str, Any]:
    """Lost or duplicated decisions, in the ledger and in the threads; raises on neither."""
    store = await SqliteStore.open(served.db)
    try:
        verdict = await store.verify()
        entries = await store.read()
    finally:
        await store.close()
    done = Counter((e.run_id, e.data["step"]) for e in entries if e.kind == "step.done")
    started = sum(1 for e in entries if e.kind == "run.started")
    run_entries = {e.seq for e in entries if e.run_id is not None}
    posted = Counter(
        int(m.group(1))
        for message in served.workspace.messages
        if message.thread_ts is not None and (m := MARKER.match(message.text))
    )
    return {
        "chain_verifies": verdict.ok,
        "entries": len(entries),
        "decisions_acknowledged": len(load.clicks) + load.starts,
        "lost_decisions": len(set(load.clicks) - set(done))
        + max(0, started_before + load.starts - started),
        "duplicated_decisions": sum(n - 1 for n in done.values() if n > 1),
        "entries_not_posted": len(run_entries - set(posted)),
        "entries_posted_twice": sum(n - 1 for n in posted.values() if n > 1),
        "posts_without_entry": len(set(posted) - run_entries),
    }


async def run(runs: int, rate: float, seconds: float, latency_clicks: int) -> dict[str, Any]:
    checked, _ = await load_catalog_and_hooks(RUNBOOKS)
    last_step = next(f.runbook for f in checked.runbooks if f.runbook.name == RUNBOOK).steps[-1].id
    with tempfile.TemporaryDirectory() as tmp:
        async with served_bot(Path(tmp)) as served:
            assert served.bot.proc is not None
            pid = served.bot.proc.pid
            await start_runs(served, 3)  # warm up: imports, caches, connection pools
            await asyncio.sleep(2)
            idle = rss_mb(pid)

            acks, updated = await card_latency(served, latency_clicks, 20)
            print(
                f"click to card updated at 20 clicks/s ({latency_clicks} clicks): "
                f"p50 {pct(updated, 50):.1f} ms, p99 {pct(updated, 99):.1f} ms "
                f"(ack p50 {pct(acks, 50):.1f}, p99 {pct(acks, 99):.1f} ms)"
            )

            active = latency_clicks + 3
            t0 = time.perf_counter()
            await start_runs(served, runs - active)
            print(f"started {runs - active} more runs in {time.perf_counter() - t0:.1f} s")
            started_before = runs
            load = await sustained(served, runs, rate, seconds, last_step)
            achieved = (len(load.clicks) + load.starts) / load.elapsed
            print(
                f"sustained: {len(load.clicks)} clicks and {load.starts} starts in "
                f"{load.elapsed:.1f} s ({achieved:.1f} decisions/s); ack p50 "
                f"{pct(load.acks, 50):.1f} ms, p99 {pct(load.acks, 99):.1f} ms; "
                f"{load.refused} refused, {load.starved} ticks without a card"
            )
            try:
                drain_s, drained = await drained_in(served.bot.base_url), True
            except TimeoutError:
                drain_s, drained = 120.0, False
            after = rss_mb(pid)
            result = await check(served, load, started_before)
    return {
        "card_updated_ms": [round(pct(updated, 50), 1), round(pct(updated, 99), 1)],
        "click_ack_ms": [round(pct(acks, 50), 1), round(pct(acks, 99), 1)],
        "load": {
            "runs": runs,
            "rate_asked": rate,
            "rate_achieved": round(achieved, 1),
            "seconds": round(load.elapsed, 1),
            "clicks": len(load.clicks),
            "starts": load.starts,
            "refused": load.refused,
            "starved": load.starved,
            "ack_ms": [round(pct(load.acks, 50), 1), round(pct(load.acks, 99), 1)],
            "backlog_drained": drained,
            "drain_seconds": round(drain_s, 1),
            **result,
        },
        "rss_mb": {"idle": round(idle, 1), "after_load": round(after, 1)},
    }


def verdicts(result: dict[str, Any]) -> list[tuple[str, bool]]:
    load = result["load"]
    p50, p99 = result["card_updated_ms"]
    return [
        (f"card updated p50 {p50} ms < {TARGET_P50_MS:.0f}", p50 < TARGET_P50_MS),
        (f"card updated p99 {p99} ms < {TARGET_P99_MS:.0f}", p99 < TARGET_P99_MS),
        (
            f"{load['rate_achieved']} decisions/s sustained (asked {load['rate_asked']})",
            load["rate_achieved"] >= 0.95 * load["rate_asked"] and load["refused"] == 0,
        ),
        ("chain verifies", load["chain_verifies"]),
        (
            f"lost {load['lost_decisions']}, duplicated {load['duplicated_decisions']} decisions",
            load["lost_decisions"] == 0 and load["duplicated_decisions"] == 0,
        ),
        (
            f"entries not posted {load['entries_not_posted']}, posted twice "
            f"{load['entries_posted_twice']}",
            load["entries_not_posted"] == 0
            and load["entries_posted_twice"] == 0
            and load["posts_without_entry"] == 0,
        ),
        (f"backlog drained in {load['drain_seconds']} s", load["backlog_drained"]),
        (
            f"idle RSS {result['rss_mb']['idle']} MB < {TARGET_IDLE_MB:.0f} "
            f"(after load {result['rss_mb']['after_load']} MB)",
            result["rss_mb"]["idle"] < TARGET_IDLE_MB,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500, help="active runs during the load")
    parser.add_argument("--rate", type=float, default=50, help="decisions per second")
    parser.add_argument("--seconds", type=float, default=60, help="length of the load")
    parser.add_argument("--latency-clicks", type=int, default=300, help="clicks at 20/s")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    result = event_loop.run(run(args.runs, args.rate, args.seconds, args.latency_clicks))
    met = True
    for text, ok in verdicts(result):
        met &= ok
        print(f"  {'met   ' if ok else 'MISSED'}  {text}")
    print("all targets met" if met else "TARGET MISSED")
    if args.json:
        targets = [{"target": text, "met": ok} for text, ok in verdicts(result)]
        args.json.write_text(json.dumps({"e2e": result, "targets": targets, "met": met}, indent=1))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
