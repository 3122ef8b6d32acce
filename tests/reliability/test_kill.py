"""`serve` as a real subprocess, driven through the emulator and SIGKILLed at 20 random points
(mid-request, mid-hook, mid-post, mid-approval). After each restart the chain verifies and
every acknowledged decision is in the ledger; at the end nothing was posted twice, interrupted
hooks were put to a person, and every run could be finished."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.catalog import load_roles
from bot.domain.runbook import RolesFile
from bot.emulator.faults import FaultKind
from bot.emulator.processes import BotProcess as Bot
from bot.emulator.processes import bot_env, free_port
from bot.emulator.server import Emulator, running_emulator
from bot.run_service import RunService
from tests.service_fixtures import publish_all, service
from tests.slack.harness import SRE, find_card, workspace_for
from tests.slack.test_e2e import EXAMPLE_RUNS

KILLS = 20
RUNS = ["restart-service", "database-failover", "disk-full-triage"] * 2


@dataclass(frozen=True)
class Acked:
    run_id: str
    step: str
    user: str
    action: str
    head: int  # ledger size before the click


def next_click(runs: RunService, loaded: object, roles: RolesFile) -> tuple[str, str] | None:
    """(action, user) for the run's current step, as a person would choose; None to wait."""
    state = loaded.state  # type: ignore[attr-defined]
    current = state.current
    spec = loaded.runbook.step(current.id)  # type: ignore[attr-defined]
    status = current.status.value
    if status == "running":
        return None
    if status == "awaiting approval":
        people = [u for r in spec.guard.approvers for u in roles.roles[r].users]
        done = {a.actor for a in current.approvals}
        who = next(u for u in people if u != SRE and u not in done)
        return "runbook.approval.approve", who
    if spec.kind.value == "hook":
        return "runbook.step.run", SRE
    if spec.kind.value == "decision":
        return "runbook.step.choose.0", SRE
    return "runbook.step.done", SRE


async def next_move(
    runs: RunService, emulator: Emulator, run_id: str, roles: RolesFile
) -> tuple[str, str, str, tuple[str, str]] | None:
    """(action, user, step, (channel, ts) of the card) for the run's next click, or None
    while there is nothing to click yet."""
    loaded = await runs.load(run_id)
    if loaded.state.current is None:  # it ended meanwhile
        return None
    choice = next_click(runs, loaded, roles)
    step = loaded.state.current.id
    shown = find_card(emulator.workspace, choice[0], step, run_id) if choice else None
    if choice is None or shown is None:
        return None
    return choice[0], choice[1], step, (shown.channel, shown.ts)


async def thread_markers(emulator: Emulator, run_id: str) -> list[str]:
    root = next((m for m in emulator.workspace.roots() if run_id in json.dumps(m.blocks)), None)
    if root is None:
        return []
    return [m.text.split(" ", 1)[0] for m in emulator.workspace.thread(root.ts)]


@pytest.mark.slow
async def test_twenty_sigkills_lose_and_repeat_nothing(tmp_path: Path, runbooks_dir: Path) -> None:
    db = tmp_path / "kill.db"
    await publish_all(db, runbooks_dir)
    roles = await load_roles(runbooks_dir)
    rng = random.Random(2211)
    async with (
        running_emulator(await workspace_for(runbooks_dir)) as emulator,
        service(db, runbooks_dir) as runs,
        contextlib.AsyncExitStack() as stack,
    ):
        # Slow answers on some posts and updates widen the window for a kill mid-post.
        emulator.faults.at_random(
            0.2,
            (FaultKind.SLOW,),
            methods=frozenset({"chat.postMessage", "chat.update"}),
            delay=0.3,
        )
        env = bot_env(emulator, db, runbooks_dir, tmp_path / "demo")
        bot = Bot(env, free_port())
        await bot.start()
        stack.push_async_callback(bot.stop_or_kill)
        emulator.bot_url = f"http://127.0.0.1:{bot.port}/slack/events"

        run_ids: list[str] = []

        async def start_runs() -> None:
            for name in RUNS:
                command = f"start {name} {EXAMPLE_RUNS[name]}"
                answer = await emulator.slash(SRE, "C0INCIDENT", command)
                assert answer.text.startswith("Started run"), answer
                run_ids.append(answer.text.split("`")[1])

        await start_runs()
        acked: list[Acked] = []
        phases: Counter[str] = Counter()
        kills = 0
        for _ in range(5000):
            active = [r for r in run_ids if (await runs.load(r)).state.current is not None]
            if not active and kills < KILLS:  # more work until every kill has landed
                await start_runs()
                continue
            if not active:
                break
            run_id = rng.choice(active)
            move = await next_move(runs, emulator, run_id, roles)
            if move is None:
                await asyncio.sleep(0.05)  # a hook under way, or the card not posted yet
                continue
            action, user, step, where = move
            head, _ = await runs.store.head()
            click = asyncio.create_task(emulator.click(user, *where, action))
            kill_now = kills < KILLS and rng.random() < 0.5
            if kill_now and rng.random() < 0.4:  # mid-request: before the ack may have left
                await asyncio.sleep(rng.uniform(0, 0.02))
                phases["mid-request" if not click.done() else "just after the ack"] += 1
                await bot.kill()
                answer = await click
            else:
                answer = await click
                if kill_now:  # mid-hook, mid-post or mid-approval, after the ack
                    await asyncio.sleep(rng.uniform(0, 0.06 if action.endswith("run") else 0.25))
                    state = (await runs.load(run_id)).state
                    behind = len(await thread_markers(emulator, run_id)) < len(
                        await runs.store.read(run_id=run_id)
                    )
                    running = state.current is not None and state.current.status.value == "running"
                    phases[
                        "hook running" if running else "posts pending" if behind else "idle"
                    ] += 1
                    await bot.kill()
            if answer.status == 200:
                acked.append(Acked(run_id, step, user, action, head))
            if kill_now:
                kills += 1
                await bot.start()
                verdict = await runs.store.verify()
                assert verdict.ok, verdict.summary()
                await check_acked(runs, acked)
        await check_acked(runs, acked)
        for run_id in run_ids:
            state = (await runs.load(run_id)).state
            assert state.status.value == "completed", (
                run_id,
                [(s.id, s.status.value, s.error) for s in state.steps],
            )
        expected = {r: [f"`#{e.seq}`" for e in await runs.store.read(run_id=r)] for r in run_ids}
        for _ in range(400):  # the last process finishes posting
            shown = [await thread_markers(emulator, r) for r in run_ids]
            if shown == [expected[r] for r in run_ids]:
                break
            await asyncio.sleep(0.05)
        for run_id in run_ids:
            assert await thread_markers(emulator, run_id) == expected[run_id], run_id
        posted = [m.text.split(" ", 1)[0] for m in emulator.workspace.messages if m.thread_ts]
        assert [k for k, n in Counter(posted).items() if n > 1] == []  # nothing posted twice
        roots = Counter(
            r for m in emulator.workspace.roots() for r in run_ids if m.text.startswith(f"Run {r}")
        )
        assert roots == dict.fromkeys(run_ids, 1)  # one root message per run, kills or not
        interrupted = [
            e
            for r in run_ids
            for e in await runs.store.read(run_id=r)
            if e.kind == "hook.interrupted"
        ]
        await bot.stop()
    assert kills == KILLS, phases
    # Each hook the bot was running when killed was put to a person at the next start.
    assert len(interrupted) == sum("was interrupted" in line for line in bot.recovered)
    print(
        f"kills by phase: {dict(phases)}; hooks put to a person: {len(interrupted)}; "
        f"acknowledged decisions checked: {len(acked)}"
    )


async def check_acked(runs: RunService, acked: list[Acked]) -> None:
    """Each acknowledged click left its entry: by that person, for that step, after the click."""
    for click in acked:
        entries = await runs.store.read(run_id=click.run_id)
        assert any(
            e.seq > click.head and e.actor == click.user and e.data.get("step") == click.step
            for e in entries
        ), click
