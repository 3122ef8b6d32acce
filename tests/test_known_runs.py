"""A decision's first attempt starts from the state this process last saw of the run. Two
services on one ledger file stand in for two replicas: whatever one of them decides, the
other never acts on a state it has not proved current."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.run_commands import CommandRefused
from bot.domain.run_state import StepStatus
from bot.domain.versions import Ref
from bot.run_service import RunService
from tests.service_fixtures import publish_all, service

SUPPORT, OTHER = "U0SUP0001", "U0SRE0001"
COMMS = Ref("customer-comms-outage")


@pytest.fixture
async def db(tmp_path: Path, runbooks_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    path = tmp_path / "runs.db"
    await publish_all(path, runbooks_dir)
    return path


async def start(svc: RunService) -> str:
    run_id, _ = await svc.start(
        COMMS, {"product": "Checkout", "severity": "minor"}, requester=SUPPORT, channel="C1"
    )
    return run_id


async def test_a_step_another_replica_presented_can_be_done_here(
    db: Path, runbooks_dir: Path
) -> None:
    async with service(db, runbooks_dir) as here, service(db, runbooks_dir) as there:
        run_id = await start(here)  # `here` now knows the run with status-page current
        await there.done(run_id, "status-page", actor=OTHER)
        # `here` last saw `macro` as not yet presented; a stale refusal must not reach the user.
        entries = await here.done(run_id, "macro", actor=SUPPORT)
        assert entries[0].kind == "step.done"
        state = (await here.load(run_id)).state
        assert state.step("status-page").by == OTHER
        assert state.step("macro").status is StepStatus.DONE and state.step("macro").by == SUPPORT
        versions = [e.run_version for e in await here.store.read(run_id=run_id)]
        assert versions == list(range(1, len(versions) + 1))


async def test_a_click_another_replica_beat_is_refused_and_records_nothing(
    db: Path, runbooks_dir: Path
) -> None:
    async with service(db, runbooks_dir) as here, service(db, runbooks_dir) as there:
        run_id = await start(here)
        await there.done(run_id, "status-page", actor=OTHER)
        before = len(await here.store.read(run_id=run_id))
        # On the state `here` remembers, status-page is still waiting: the append conflicts,
        # and the fresh state refuses the click as stale.
        with pytest.raises(CommandRefused):
            await here.done(run_id, "status-page", actor=SUPPORT)
        entries = await here.store.read(run_id=run_id)
        assert len(entries) == before
        assert [e.actor for e in entries if e.kind == "step.done"] == [OTHER]


async def test_the_remembered_state_follows_this_process_own_decisions(
    db: Path, runbooks_dir: Path
) -> None:
    async with service(db, runbooks_dir) as svc:
        run_id = await start(svc)
        for step in ("status-page", "macro", "update"):
            await svc.done(run_id, step, actor=SUPPORT)
        remembered = (await svc.current(run_id)).state
        assert remembered == (await svc.load(run_id)).state
        assert remembered.step("update").status is StepStatus.DONE
