"""Slack failing on 30% of calls at random (429 with Retry-After, 500, slow answers) through a
50-run workload: every ledger entry still reaches its thread exactly once and in order, and
no decision is lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.catalog import load_roles
from bot.emulator.faults import FaultKind
from tests.conftest import EXAMPLES
from tests.slack.harness import SRE, Bot, drive_to_completion, running_bot, thread_matches_ledger
from tests.slack.test_e2e import EXAMPLE_RUNS, run_id_of

RUNS = 50
AT_ONCE = 50  # all at once: Slack's waits overlap, as in a real incident
FAULT_RATE = 0.3


@pytest.mark.slow
async def test_fifty_runs_through_a_failing_slack(
    tmp_path: Path, runbooks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    roles = await load_roles(EXAMPLES)
    names = sorted(EXAMPLE_RUNS)
    async with running_bot(tmp_path, runbooks_dir) as bot:
        bot.emulator.faults.at_random(
            FAULT_RATE,
            (FaultKind.RATE_LIMITED, FaultKind.SERVER_ERROR, FaultKind.SLOW),
            methods=frozenset({"chat.postMessage", "chat.update", "conversations.replies"}),
            seed=2211,
            delay=0.2,
        )

        async def one(i: int) -> tuple[str, str]:
            name = names[i % len(names)]
            started = await bot.command(f"start {name} {EXAMPLE_RUNS[name]}", user=SRE)
            run_id = run_id_of(started.text)
            return run_id, await drive_to_completion(bot, run_id, SRE, roles, settle=False)

        results: list[tuple[str, str]] = []
        for batch in range(0, RUNS, AT_ONCE):
            async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                tasks = [group.create_task(one(i)) for i in range(batch, batch + AT_ONCE)]
            results += [task.result() for task in tasks]
        await bot.settle()
        await check_every_thread(bot, [run_id for run_id, _ in results])
        assert [status for _, status in results] == ["completed"] * RUNS
        injected = Counter(kind for _, kind in bot.emulator.faults.injected)
        assert all(injected[kind] > 20 for kind in FaultKind if kind is not FaultKind.ERROR), (
            injected
        )
        assert (await bot.runtime.store.verify()).ok
        calls = sum(1 for m, _ in bot.emulator.calls if m in ("chat.postMessage", "chat.update"))
        print(f"faults injected: { {k.value: n for k, n in injected.items()} } over {calls} calls")


async def check_every_thread(bot: Bot, run_ids: list[str]) -> None:
    posted = [m.text.split(" ", 1)[0] for m in bot.workspace.messages if m.thread_ts]
    duplicates = [marker for marker, n in Counter(posted).items() if n > 1]
    assert duplicates == [], duplicates
    for run_id in run_ids:
        shown, expected = await thread_matches_ledger(bot, run_id)
        assert shown == expected, run_id
