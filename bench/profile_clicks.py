"""Profile the bot's event loop while it acknowledges button clicks, with py-spy.

The same setup as the click rows of bench/ack.py: `serve` as its own process against the
emulator, each click a real decision (marking a checklist step done on its own run), sent
over keep-alive connections with real signatures at a fixed concurrency. py-spy samples
`serve` from outside (no instrumentation in the bot) while the clicks are sent and writes its
raw collapsed stacks; this script then prints each function's share of the event loop
thread's samples and each package's self time. py-spy pauses the bot for each sample (its
`--nonblocking` mode garbled a third of the stacks here), so the bot runs slower while it is
sampled: read the shares, not the speed.

py-spy is an optional dependency: `pip install -e '.[profile]'` (or `make profile`, which
installs it and runs this). It attaches to another process, which on Linux needs root,
CAP_SYS_PTRACE or `kernel.yama.ptrace_scope=0`.

Usage: python bench/profile_clicks.py [--clicks N] [--concurrency C] [--rate HZ] [--out FILE] [--top N]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ack import cpu_seconds, measure
from bench.collapsed import report, summarise
from bench.common import CHANNEL, DONE, USER, drained_in, pct, served_bot, start_runs
from bot import event_loop
from bot.emulator.server import FORM, interactive_body

WARM_UP = 50  # clicks before sampling starts: imports, caches and connections settle


def py_spy() -> str:
    """The py-spy executable, next to this Python's or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit(
            "py-spy is not installed; install it with `pip install -e '.[profile]'` "
            "(or run `make profile`)."
        )
    return found


async def start_py_spy(pid: int, rate: int, out: Path, errors: Path) -> asyncio.subprocess.Process:
    """py-spy recording `pid` until interrupted; a clear error if it cannot attach."""
    with errors.open("wb") as stderr:
        spy = await asyncio.create_subprocess_exec(
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(out),
            "--duration",
            "3600",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    await asyncio.sleep(1.0)  # time to attach, or to fail
    if spy.returncode is not None:
        why = (await asyncio.to_thread(errors.read_text)).strip().split("\n\n")[0]
        raise SystemExit(
            f"py-spy could not attach to serve (pid {pid}): {why}\n"
            "Attaching needs root, CAP_SYS_PTRACE or kernel.yama.ptrace_scope=0."
        )
    return spy


async def profile(clicks: int, concurrency: int, rate: int, out: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        async with served_bot(Path(tmp)) as served:
            assert served.bot.proc is not None
            pid = served.bot.proc.pid
            print(f"starting {clicks + WARM_UP} runs to click on...", flush=True)
            cards = await start_runs(served, clicks + WARM_UP)
            await drained_in(served.bot.base_url)
            emulator = served.emulator
            bodies = [
                (interactive_body(emulator.action_payload(USER, CHANNEL, m.ts, DONE)), FORM)
                for m in cards
            ]
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                await measure(session, served.bot.url, emulator, bodies[:WARM_UP], concurrency)
                await drained_in(served.bot.base_url)
                spy = await start_py_spy(pid, rate, out, Path(tmp) / "py-spy.err")
                cpu_before, started = cpu_seconds(pid), time.perf_counter()
                latencies = await measure(
                    session, served.bot.url, emulator, bodies[WARM_UP:], concurrency
                )
                elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
                spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
                await asyncio.wait_for(spy.wait(), 60)
    return (
        f"{len(latencies)} clicks at concurrency {concurrency}: {len(latencies) / elapsed:.0f}/s, "
        f"p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
        f"{cpu / len(latencies) * 1e3:.2f} ms of CPU per click (sampling included)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clicks", type=int, default=3000, help="clicks while sampling")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument(
        "--out", type=Path, default=Path("clicks.pyspy.txt"), help="py-spy's collapsed stacks"
    )
    parser.add_argument("--top", type=int, default=40, help="functions to list")
    args = parser.parse_args()
    py_spy()  # before minutes of set-up, not after
    load = event_loop.run(profile(args.clicks, args.concurrency, args.rate, args.out.resolve()))
    print(load)
    print(f"collapsed stacks: {args.out} (flamegraph.pl, speedscope and others read them)\n")
    with args.out.open(encoding="utf-8") as raw:
        print(report(summarise(raw, args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
