"""The run service over a real SQLite ledger: whole runs, races, pinned code, secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.domain.policy import Seen
from bot.domain.run_state import RunStatus
from bot.domain.versions import Ref
from bot.errors import UserError
from bot.ledger.chain import NewEvent
from bot.loaded_run import Unfolded
from bot.run_service import RunService
from tests.service_fixtures import add_team_runbooks, publish_all, service

IC, SRE, DBA1, DBA2, LEGAL, SUPPORT = (
    "U0IC00001",
    "U0SRE0001",
    "U0DBA0001",
    "U0DBA0002",
    "U0LEG0001",
    "U0SUP0001",
)


@pytest.fixture
async def published(
    tmp_path: Path, runbooks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    add_team_runbooks(runbooks_dir)
    db = tmp_path / "runs.db"
    await publish_all(db, runbooks_dir)
    return db, runbooks_dir


async def kinds(svc: RunService, run_id: str) -> list[str]:
    return [e.kind for e in await svc.store.read(run_id=run_id)]


async def announced_restart(svc: RunService) -> str:
    """A restart-service run by SRE, its first (checklist) step done with the note "posted"."""
    run_id, _ = await svc.start(
        Ref("restart-service"),
        {"service": "api", "env": "production"},
        requester=SRE,
        channel="C1",
    )
    await svc.done(run_id, "announce", actor=SRE, note="posted")
    return run_id


async def test_restart_service_end_to_end(published: tuple[Path, Path]) -> None:
    async with service(*published) as svc:
        run_id = await announced_restart(svc)
        await svc.run_hook(run_id, "check", actor=SRE)
        refused = await svc.approve(run_id, "restart", actor=SRE)
        assert refused[0].kind == "approval.refused" and refused[0].data["why"] == "not an approver"
        loaded = await svc.load(run_id)
        seen = Seen(loaded.state.sha256, loaded.state.step("restart").args_hash)
        await svc.approve(run_id, "restart", actor=IC, seen=seen)
        ran = await svc.run_hook(run_id, "restart", actor=SRE)
        assert [e.kind for e in ran][:2] == ["hook.started", "hook.succeeded"]
        assert ran[1].data["result"]["key"] == f"{run_id}:restart:1"
        await svc.run_hook(run_id, "verify", actor=SRE)
        await svc.done(run_id, "all-clear", actor=SUPPORT)
        assert (await svc.load(run_id)).state.status is RunStatus.COMPLETED
        entries = await svc.store.read(run_id=run_id)
        assert [e.run_version for e in entries] == list(range(1, len(entries) + 1))
        assert (await svc.store.verify()).ok
        assert [r["status"] for r in await svc.store.runs()] == ["completed"]


async def test_database_failover_needs_two_dbas(published: tuple[Path, Path]) -> None:
    async with service(*published) as svc:
        run_id, _ = await svc.start(
            Ref("database-failover"), {"cluster": "orders"}, requester=SRE, channel="C1"
        )
        await svc.done(run_id, "freeze-writes", actor=SRE)
        await svc.run_hook(run_id, "check-lag", actor=SRE)
        await svc.approve(run_id, "promote", actor=DBA1)
        with pytest.raises(UserError, match="needs approval first"):
            await svc.run_hook(run_id, "promote", actor=SRE)
        await svc.approve(run_id, "promote", actor=DBA2)
        await svc.run_hook(run_id, "promote", actor=SRE)
        await svc.approve(run_id, "repoint", actor=IC)
        await svc.run_hook(run_id, "repoint", actor=SRE)
        await svc.done(run_id, "unfreeze-writes", actor=SRE)
        assert (await svc.load(run_id)).state.status is RunStatus.COMPLETED


async def test_checklist_runbook_with_a_secret_param(published: tuple[Path, Path]) -> None:
    async with service(*published) as svc:
        run_id, _ = await svc.start(
            Ref("security-incident-intake"),
            {
                "case_id": "SEC-42",
                "reporter_contact": "jane@example.org",
                "involves_personal_data": "yes",
            },
            requester=LEGAL,
            channel="C9",
        )
        await svc.done(run_id, "acknowledge", actor=LEGAL, note="emailed jane@example.org")
        await svc.done(run_id, "preserve", actor=LEGAL)
        await svc.approve(run_id, "privacy", actor=LEGAL)  # allow_requester: true for this step
        await svc.done(run_id, "privacy", actor=LEGAL, note="clock started 10:14")
        await svc.choose(run_id, "scope", actor=LEGAL, label="Executive team too")
        await svc.done(run_id, "brief-execs", actor=LEGAL)
        await svc.done(run_id, "record", actor=LEGAL)
        assert (await svc.load(run_id)).state.status is RunStatus.COMPLETED
        everything = " ".join(e.payload for e in await svc.store.read())
        assert "jane@example.org" not in everything and "emailed [secret]" in everything


async def test_many_identical_approvals_and_runs_give_one_of_each(
    published: tuple[Path, Path], tmp_path: Path
) -> None:
    db, runbooks_dir = published
    marker = tmp_path / "calls.txt"
    async with (
        service(db, runbooks_dir) as first,
        service(db, runbooks_dir) as second,
        service(db, runbooks_dir) as third,
    ):
        run_id, _ = await first.start(
            Ref("guarded-work"), {"marker": str(marker)}, requester=SRE, channel="C1"
        )
        services = [first, second, third]
        approvals = await asyncio.gather(
            *(services[i % 3].approve(run_id, "work", actor=IC) for i in range(30)),
            return_exceptions=True,
        )
        granted = [
            e
            for result in approvals
            if isinstance(result, list)
            for e in result
            if e.kind == "approval.granted"
        ]
        assert len(granted) == 1
        runs = await asyncio.gather(
            *(services[i % 3].run_hook(run_id, "work", actor=SRE) for i in range(30)),
            return_exceptions=True,
        )
        started = [
            e
            for result in runs
            if isinstance(result, list)
            for e in result
            if e.kind == "hook.started"
        ]
        assert len(started) == 1
        refusals = [r for r in runs if isinstance(r, UserError)]
        assert len(refusals) == 29 and all(
            "is not the current step" in str(r)
            or "is running" in str(r)
            or "is done" in str(r)
            or "already" in str(r)
            for r in refusals
        )
        assert marker.read_text(encoding="utf-8").splitlines() == [f"{run_id}:work:1"]
        assert (await first.store.verify()).ok


async def test_a_changed_hook_is_refused_until_published_again(
    published: tuple[Path, Path], tmp_path: Path
) -> None:
    db, runbooks_dir = published
    hooks_file = runbooks_dir / "hooks" / "team.py"
    hooks_file.write_text(
        hooks_file.read_text(encoding="utf-8") + "\n# a quiet change\n", encoding="utf-8"
    )
    async with service(db, runbooks_dir) as svc:
        run_id, _ = await svc.start(
            Ref("plain-work"), {"marker": str(tmp_path / "m")}, requester=SRE, channel="C1"
        )
        with pytest.raises(
            UserError, match=r"Hook 'team.work' changed since plain-work@1 .* publish again"
        ):
            await svc.run_hook(run_id, "work", actor=SRE)
        assert "hook.started" not in await kinds(svc, run_id)
    await publish_all(db, runbooks_dir)
    async with service(db, runbooks_dir) as svc:
        assert (
            len(await svc.store.versions("plain-work")) == 2
        )  # the hook change made a new version
        assert len(await svc.store.versions("restart-service")) == 1  # it does not use team.work
        run_id, _ = await svc.start(
            Ref("plain-work"), {"marker": str(tmp_path / "m")}, requester=SRE, channel="C1"
        )
        assert (await svc.run_hook(run_id, "work", actor=SRE))[1].kind == "hook.succeeded"


async def test_abort_cancels_a_running_hook(published: tuple[Path, Path], tmp_path: Path) -> None:
    marker = tmp_path / "m"
    (tmp_path / "block").touch()
    async with service(*published) as svc:
        run_id, _ = await svc.start(
            Ref("plain-work"), {"marker": str(marker)}, requester=SRE, channel="C1"
        )
        running = asyncio.create_task(svc.run_hook(run_id, "work", actor=SRE))
        while not marker.exists():
            await asyncio.sleep(0.02)
        await svc.abort(run_id, actor=IC, reason="wrong cluster")
        assert [e.kind for e in await running] == ["hook.started"]
        assert (await kinds(svc, run_id))[-2:] == ["hook.started", "run.aborted"]


async def test_unknown_runs_and_refs_are_clear_errors(published: tuple[Path, Path]) -> None:
    async with service(*published) as svc:
        with pytest.raises(UserError, match="There is no run 'run-nope'"):
            await svc.done("run-nope", "x", actor=SRE)
        with pytest.raises(UserError, match="No published runbook is named 'nope'"):
            await svc.start(Ref("nope"), {}, requester=SRE, channel="C1")


async def test_approvers_see_a_dry_run_plan_before_approving(published: tuple[Path, Path]) -> None:
    async with service(*published) as svc:
        run_id, _ = await svc.start(
            Ref("restart-service"), {"service": "api"}, requester=SRE, channel="C1"
        )
        await svc.done(run_id, "announce", actor=SRE)
        entries = await svc.run_hook(run_id, "check", actor=SRE)
        assert [e.kind for e in entries][-2:] == ["approval.requested", "hook.planned"]
        assert entries[-1].data["plan"] == {
            "would": "restart api in staging",
            "current_state": "running",
        }
        step = (await svc.load(run_id)).state.step("restart")
        assert step.plan == entries[-1].data["plan"]
        assert step.status.value == "awaiting approval"  # the plan changes nothing else
        assert not (
            published[0].parent / "demo" / "services" / "api.state"
        ).exists()  # nothing was done


async def test_a_crowd_of_identical_approvals_is_recorded_not_dropped(
    published: tuple[Path, Path], tmp_path: Path
) -> None:
    """Every approval attempt ends as one grant or a recorded refusal; none is lost as 'busy'."""
    db, runbooks_dir = published
    async with service(db, runbooks_dir) as first, service(db, runbooks_dir) as second:
        run_id, _ = await first.start(
            Ref("guarded-work"), {"marker": str(tmp_path / "m")}, requester=SRE, channel="C1"
        )
        results = await asyncio.gather(
            *((first, second)[i % 2].approve(run_id, "work", actor=IC) for i in range(20))
        )
        kinds_seen = [e.kind for result in results for e in result]
        assert kinds_seen.count("approval.granted") == 1
        assert kinds_seen.count("approval.refused") == 19


async def test_a_decision_folds_its_own_entries_when_the_next_one_needs_them(
    published: tuple[Path, Path],
) -> None:
    """A decision keeps its entries unfolded (the outbox's fresh read usually replaces them);
    the next decision folds them, and gets the state a fresh read of the ledger gives."""
    async with service(*published) as svc:
        run_id = await announced_restart(svc)
        assert isinstance(svc._known[run_id], Unfolded)
        folded = await svc.current(run_id)
        assert folded.state == (await svc.load(run_id)).state
        assert folded.state.step("announce").note == "posted"
        started = await svc.begin_hook(run_id, "check", actor=SRE)  # decided from the fold
        assert [e.kind for e in started] == ["hook.started"]


async def test_a_version_this_bot_would_refuse_says_so_rather_than_tampering(
    published: tuple[Path, Path],
) -> None:
    """A version published before a check was added (here: an ambiguous pattern) is not
    reported as a changed database; the problem is named."""
    source = (
        "name: legacy\ntitle: Legacy\nparams:\n"
        '  host: {type: string, pattern: "^[a-z&&0-9]+$"}\n'
        "steps:\n  - id: go\n    title: Go\n"
    )
    payload = {"name": "legacy", "number": 1, "sha256": "0" * 64, "source": source, "path": "x"}
    async with service(*published) as svc:
        await svc.store.append([NewEvent("runbook.published", "old-bot", payload)])
        with pytest.raises(UserError) as refused:
            await svc.pinned_runbook(Ref("legacy", number=1))
    message = str(refused.value)
    assert "does not pass this bot's checks any more" in message
    assert "pattern is ambiguous" in message and "database was changed" not in message
