"""Recovery after a restart: time from starting `serve` to its first acknowledged request, on a
ledger with a long history and 1,000 active runs.

The ledger is built from one real run of the checklist runbook, played through the run service
and then copied under fresh run ids (every copy hashed and chained by the store's own append),
so history entries are exactly what real runs write: completed runs, their threads all posted.
The active runs stand on their first card, posted to the emulator beforehand, as they would be
when a bot restarts mid-incident.

What is timed: from spawning `python -m bot serve` to the first HTTP 200 for a signed
`/runbook status`, sent every 5 ms from the moment the process is spawned. Baseline, in the
same run: the same for the bare bolt app (bench/bare_bolt.py), which starts with no ledger.
Target: under 2 s, and not growing with history: the figure at 1,000,000 entries against the
one at 100,000.

Usage: python bench/recovery.py [--sizes 100000 1000000] [--active 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CHANNEL, REPO, RUNBOOKS, USER, machine, publish_catalog, rss_mb
from bot import event_loop
from bot.catalog import load_catalog_and_hooks, load_roles
from bot.config import Synchronous
from bot.domain.versions import parse_ref
from bot.emulator.processes import bot_env, free_port
from bot.emulator.server import Emulator, running_emulator
from bot.emulator.workspace import BOT_USER, Workspace
from bot.ledger.chain import Entry, NewEvent
from bot.ledger.sqlite_store import SqliteStore
from bot.run_service import RunService, roles_from_file
from bot.slack.delivery import SCHEMA as DELIVERY_SCHEMA
from bot.slack.delivery import UNSETTLED_INDEX
from bot.slack.outbox import STEP_KINDS_WITH_CARDS

RUNBOOK = "customer-comms-outage"
TARGET_S = 2.0
TARGET_GROWTH = 1.5  # 1M entries against 100k: "not growing" allows this much noise
BATCH = 5_000


@dataclass(frozen=True)
class Template:
    """One real run's entries: a completed one for history, an active one for the rest."""

    completed: list[Entry]
    active: list[Entry]


async def template(tmp: Path) -> Template:
    db = tmp / "template.db"
    await publish_catalog(db)
    _, registry = await load_catalog_and_hooks(RUNBOOKS)
    store = await SqliteStore.open(db)
    try:
        service = RunService(store, registry, roles_from_file(await load_roles(RUNBOOKS)))
        runs = []
        for _ in range(2):
            run_id, _ = await service.start(
                parse_ref(RUNBOOK), {"product": "Checkout"}, requester=USER, channel=CHANNEL
            )
            runs.append(run_id)
        done, active = runs
        while (current := (await service.load(done)).state.current) is not None:
            await service.done(done, current.id, actor=USER, note="")
        return Template(await store.read(run_id=done), await store.read(run_id=active))
    finally:
        await store.close()


def copy_events(entries: list[Entry], run_id: str) -> list[NewEvent]:
    old = entries[0].run_id
    assert old is not None
    return [
        NewEvent(
            kind=e.kind,
            actor=e.actor,
            payload=json.loads(e.payload.replace(old, run_id)),
            run_id=run_id,
            run_version=e.run_version,
        )
        for e in entries
    ]


async def build(db: Path, size: int, active: int, tpl: Template) -> dict[str, list[int]]:
    """A ledger of about `size` entries: history runs first, the active runs last. Returns the
    seqs each run's entries got, for the thread bookkeeping."""
    await publish_catalog(db)
    store = await SqliteStore.open(db, synchronous=Synchronous.NORMAL)  # building, not timed
    seqs: dict[str, list[int]] = {}
    try:
        head, _ = await store.head()
        history = max(0, (size - head - active * len(tpl.active)) // len(tpl.completed))
        pending: list[NewEvent] = []

        async def flush() -> None:
            for entry in await store.append(pending):
                assert entry.run_id is not None
                seqs.setdefault(entry.run_id, []).append(entry.seq)
            pending.clear()

        for number in range(history + active):
            if number < history:
                pending += copy_events(tpl.completed, f"run-h{number:07d}")
            else:
                pending += copy_events(tpl.active, f"run-a{number - history:07d}")
            if len(pending) >= BATCH:
                await flush()
        await flush()
    finally:
        await store.close()
    return seqs


def post_threads(db: Path, ws: Workspace, seqs: dict[str, list[int]], tpl: Template) -> None:
    """Every entry already in its thread: history in the bookkeeping only (those runs settled,
    as the bot marks an ended run once its thread is complete), active runs in the emulator
    too, with their cards, so the restart redraws real messages."""
    card_at = [i for i, e in enumerate(tpl.active) if e.kind == STEP_KINDS_WITH_CARDS]
    steps = [tpl.active[i].data["step"] for i in card_at]
    conn = sqlite3.connect(db)
    try:
        for statement in (*DELIVERY_SCHEMA, UNSETTLED_INDEX):
            conn.execute(statement)
        threads: list[tuple[str, str, str, int]] = []
        posts: list[tuple[str, int, str, str]] = []
        cards: list[tuple[str, str, str]] = []
        for run_id, run_seqs in seqs.items():
            if run_id.startswith("run-h"):
                root = f"1.{len(threads):06d}"
                threads.append((run_id, CHANNEL, root, 1))  # ended, all posted: settled
                posts += [(run_id, seq, "sent", f"2.{seq:07d}") for seq in run_seqs]
                continue
            root_ts = ws.post(CHANNEL, BOT_USER, f"Run {run_id}", []).ts
            threads.append((run_id, CHANNEL, root_ts, 0))
            for index, seq in enumerate(run_seqs):
                text = f"`#{seq}` {tpl.active[index].kind}"
                ts = ws.post(CHANNEL, BOT_USER, text, [], thread_ts=root_ts).ts
                posts.append((run_id, seq, "sent", ts))
                if index in card_at:
                    cards.append((run_id, steps[card_at.index(index)], ts))
        conn.executemany("INSERT INTO slack_threads VALUES (?, ?, ?, ?)", threads)
        conn.executemany("INSERT INTO slack_posts VALUES (?, ?, ?, ?)", posts)
        conn.executemany("INSERT INTO slack_cards VALUES (?, ?, ?)", cards)
        # The bot last started before the active runs began: their entries are new since then.
        first_active = min(s[0] for run_id, s in seqs.items() if run_id.startswith("run-a"))
        conn.execute("INSERT INTO slack_watermark VALUES (1, ?)", (first_active - 1,))
        conn.commit()
    finally:
        conn.close()


@asynccontextmanager
async def spawned(
    args: list[str], env: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def first_ack(
    emulator: Emulator, args: list[str], env: dict[str, str], port: int, *, settle: float = 0.5
) -> tuple[float, float]:
    """Seconds from spawning the process to its first 200 on `/runbook status`, and its resident
    memory `settle` seconds later (start-up work done)."""
    emulator.bot_url = f"http://127.0.0.1:{port}/slack/events"
    started = time.perf_counter()
    async with spawned(args, env) as proc:
        while (answer := await emulator.slash(USER, CHANNEL, "status")).status != 200:
            if proc.returncode is not None:
                raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}")
            if time.perf_counter() - started > 60:
                raise TimeoutError(f"{' '.join(args)} did not answer within 60 s: {answer.text}")
            await asyncio.sleep(0.005)  # polling the port, as a client would
        elapsed = time.perf_counter() - started
        await asyncio.sleep(settle)
        return elapsed, rss_mb(proc.pid)


async def measure_bot(
    tmp: Path, size: int, active: int, tpl: Template, repeat: int
) -> dict[str, Any]:
    db = tmp / f"ledger-{size}.db"
    began = time.perf_counter()
    seqs = await build(db, size, active, tpl)
    ws = Workspace.demo()
    post_threads(db, ws, seqs, tpl)
    with closing(sqlite3.connect(db)) as conn:
        entries = int(conn.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0])
    print(
        f"  built {entries:,} entries ({len(seqs):,} runs) in {time.perf_counter() - began:.0f} s"
    )
    times = []
    async with running_emulator(ws) as emulator:
        env = bot_env(emulator, db, RUNBOOKS, tmp / "demo")
        for _ in range(repeat):
            port = free_port()
            args = ["-m", "bot", "serve", "--port", str(port)]
            seconds, _ = await first_ack(emulator, args, env, port)
            times.append(seconds)
        port = free_port()  # memory with this ledger, once the start-up work is done
        args = ["-m", "bot", "serve", "--port", str(port)]
        _, rss = await first_ack(emulator, args, env, port, settle=5)
    return {"entries": entries, "runs": len(seqs), "seconds": sorted(times), "rss_mb": rss}


async def measure_bare(tmp: Path, repeat: int) -> list[float]:
    times = []
    async with running_emulator(Workspace.demo()) as emulator:
        env = bot_env(emulator, tmp / "unused.db", RUNBOOKS, tmp / "demo")
        for _ in range(repeat):
            port = free_port()
            seconds, _ = await first_ack(emulator, ["bench/bare_bolt.py", str(port)], env, port)
            times.append(seconds)
    return sorted(times)


def median(values: list[float]) -> float:
    return values[len(values) // 2]


async def run(sizes: list[int], active: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as name:
        tmp = Path(name)
        tpl = await template(tmp)
        print(
            f"a completed run writes {len(tpl.completed)} entries, an active one "
            f"{len(tpl.active)}; {active} active runs"
        )
        bare = await measure_bare(tmp, repeat)
        print(f"bare bolt: first ack {median(bare) * 1000:.0f} ms after spawn (median of {repeat})")
        results = []
        for size in sizes:
            print(f"ledger of {size:,} entries:")
            result = await measure_bot(tmp, size, active, tpl, repeat)
            seconds = median(result["seconds"])
            print(
                f"  serve: first ack {seconds * 1000:.0f} ms after spawn (median of {repeat}; "
                f"{', '.join(f'{s * 1000:.0f}' for s in result['seconds'])} ms), "
                f"{seconds / median(bare):.2f}x bare bolt; RSS {result['rss_mb']:.1f} MB"
            )
            results.append({**result, "median_s": seconds})
            (tmp / f"ledger-{size}.db").unlink()
    return {
        "machine": machine(),
        "active_runs": active,
        "bare_s": median(bare),
        "sizes": results,
    }


def verdicts(result: dict[str, Any]) -> list[tuple[str, bool]]:
    sizes = result["sizes"]
    out = [
        (
            f"first ack at {s['entries']:,} entries {s['median_s']:.2f} s < {TARGET_S:.0f}",
            s["median_s"] < TARGET_S,
        )
        for s in sizes
    ]
    if len(sizes) > 1:
        growth = sizes[-1]["median_s"] / sizes[0]["median_s"]
        out.append(
            (
                f"{sizes[-1]['entries']:,} entries against {sizes[0]['entries']:,}: "
                f"{growth:.2f}x (not growing: < {TARGET_GROWTH})",
                growth < TARGET_GROWTH,
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        help="ledger sizes, in entries",
    )
    parser.add_argument("--active", type=int, default=1000, help="active runs at the restart")
    parser.add_argument("--repeat", type=int, default=5, help="restarts timed per ledger")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    result = event_loop.run(run(args.sizes, args.active, args.repeat))
    checks = verdicts(result)
    for label, ok in checks:
        print(f"  {'met   ' if ok else 'MISSED'}  {label}")
    result["targets"] = [{"target": label, "met": ok} for label, ok in checks]
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
