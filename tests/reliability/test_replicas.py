"""Two `serve` processes on one SQLite file, each click delivered to both at once (a retry
that lands on another replica): one chain that verifies, each decision once, and each ledger
entry posted once, in order, in one thread per run."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.catalog import load_roles
from bot.emulator.faults import FaultKind
from bot.emulator.processes import BotProcess, bot_env, free_port
from bot.emulator.server import FORM, Emulator, interactive_body, running_emulator
from tests.reliability.test_kill import next_move, thread_markers
from tests.service_fixtures import publish_all, service
from tests.slack.harness import SRE, workspace_for
from tests.slack.test_e2e import EXAMPLE_RUNS

RUNS = ["restart-service", "database-failover", "disk-full-triage", "customer-comms-outage"]


async def click_on_both(
    emulator: Emulator, bots: list[BotProcess], user: str, channel: str, ts: str, action: str
) -> list[int]:
    body = interactive_body(emulator.action_payload(user, channel, ts, action))
    headers = emulator.signed_headers(body, FORM)
    answers = await asyncio.gather(*(emulator.post_signed(body, headers, b.url) for b in bots))
    return [a.status for a in answers]


@pytest.mark.slow
async def test_two_replicas_never_fork_the_chain_or_repeat_a_post(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    db = tmp_path / "replicas.db"
    await publish_all(db, runbooks_dir)
    roles = await load_roles(runbooks_dir)
    async with (
        running_emulator(await workspace_for(runbooks_dir)) as emulator,
        service(db, runbooks_dir) as runs,
    ):
        # Slow posts keep one replica mid-post while the other is kicked by its own decision.
        emulator.faults.at_random(
            0.3, (FaultKind.SLOW,), methods=frozenset({"chat.postMessage"}), seed=5, delay=0.2
        )
        env = bot_env(emulator, db, runbooks_dir, tmp_path / "demo")
        bots = [BotProcess(env, free_port()), BotProcess(env, free_port())]
        await asyncio.gather(*(b.start() for b in bots))
        try:
            run_ids = []
            for i, name in enumerate(RUNS):
                emulator.bot_url = bots[i % 2].url  # runs started on either replica
                answer = await emulator.slash(
                    SRE, "C0INCIDENT", f"start {name} {EXAMPLE_RUNS[name]}"
                )
                run_ids.append(answer.text.split("`")[1])
            clicks = 0
            for _ in range(3000):
                active = [r for r in run_ids if (await runs.load(r)).state.current is not None]
                if not active:
                    break
                for run_id in active:
                    move = await next_move(runs, emulator, run_id, roles)
                    if move is None:
                        continue
                    action, user, _, (channel, ts) = move
                    statuses = await click_on_both(emulator, bots, user, channel, ts, action)
                    assert statuses == [200, 200]
                    clicks += 1
                await asyncio.sleep(0.05)
            verdict = await runs.store.verify()
            assert verdict.ok, verdict.summary()
            expected = {
                r: [f"`#{e.seq}`" for e in await runs.store.read(run_id=r)] for r in run_ids
            }
            for _ in range(200):
                shown = [await thread_markers(emulator, r) for r in run_ids]
                if shown == [expected[r] for r in run_ids]:
                    break
                await asyncio.sleep(0.05)
            for run_id in run_ids:
                state = (await runs.load(run_id)).state
                assert state.status.value == "completed", run_id
                entries = await runs.store.read(run_id=run_id)
                decided = Counter(
                    (e.kind, e.data.get("step"), e.actor)
                    for e in entries
                    if e.kind in ("step.done", "approval.granted", "hook.started", "decision.taken")
                )
                assert max(decided.values()) == 1, decided  # each decision once
                assert await thread_markers(emulator, run_id) == expected[run_id], run_id
            roots = [m for m in emulator.workspace.roots() if m.text.startswith("Run run-")]
            assert len(roots) == len(run_ids)  # one thread per run
            posted = [m.text.split(" ", 1)[0] for m in emulator.workspace.messages if m.thread_ts]
            assert [k for k, n in Counter(posted).items() if n > 1] == []
            assert clicks >= 20
            for bot in bots:
                await bot.stop()  # a clean shutdown of both
        finally:
            for bot in bots:
                await bot.stop_or_kill()
