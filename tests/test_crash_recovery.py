"""SIGKILL the process while a hook runs; the restarted engine decides what happens next."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from bot.domain.run_state import RunStatus, StepStatus
from tests.conftest import REPO
from tests.service_fixtures import add_team_runbooks, publish_all, service

RUNNER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    from bot.domain.versions import Ref
    from tests.service_fixtures import service

    async def main(db, runbooks, marker):
        async with service(Path(db), Path(runbooks)) as svc:
            run_id, _ = await svc.start(Ref("plain-work"), {"marker": marker}, requester="U0SRE0001", channel="C1")
            print(run_id, flush=True)
            await svc.run_hook(run_id, "work", actor="U0SRE0001")

    asyncio.run(main(*sys.argv[1:4]))
    """
)


async def crash_mid_hook(tmp_path: Path, runbooks_dir: Path) -> tuple[Path, str, Path]:
    db, marker = tmp_path / "crash.db", tmp_path / "calls.txt"
    await publish_all(db, runbooks_dir)
    (tmp_path / "block").touch()  # the hook blocks until this file is gone
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUNNER,
        str(db),
        str(runbooks_dir),
        str(marker),
        str(REPO),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    run_id = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    for _ in range(600):
        if marker.exists():
            break
        await asyncio.sleep(0.05)
    assert marker.exists(), "the hook never started"
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    (tmp_path / "block").unlink()
    return db, run_id, marker


@pytest.mark.slow
async def test_an_interrupted_hook_is_put_to_a_person(tmp_path: Path, runbooks_dir: Path) -> None:
    add_team_runbooks(runbooks_dir, idempotent=False)
    db, run_id, marker = await crash_mid_hook(tmp_path, runbooks_dir)
    async with service(db, runbooks_dir) as svc:
        assert (await svc.store.verify()).ok
        state = (await svc.load(run_id)).state
        assert (
            state.step("work").status is StepStatus.RUNNING
        )  # the start was acknowledged and kept
        recovered = await svc.recover()
        assert [e.kind for e in recovered] == ["hook.interrupted"]
        assert await svc.recover() == []  # once
        assert marker.read_text(encoding="utf-8").splitlines() == [
            f"{run_id}:work:1"
        ]  # not re-run blindly
        retried = await svc.run_hook(run_id, "work", actor="U0SRE0001")
        assert [e.kind for e in retried][:2] == ["hook.started", "hook.succeeded"]
        assert retried[0].data["attempt"] == 2
        await svc.done(run_id, "confirm", actor="U0SRE0001")
        assert (await svc.load(run_id)).state.status is RunStatus.COMPLETED
        assert (await svc.store.verify()).ok


@pytest.mark.slow
async def test_an_idempotent_hook_is_retried_with_the_same_key(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    add_team_runbooks(runbooks_dir, idempotent=True)
    db, run_id, marker = await crash_mid_hook(tmp_path, runbooks_dir)
    async with service(db, runbooks_dir) as svc:
        recovered = await svc.recover()
        assert [e.kind for e in recovered] == ["hook.succeeded", "step.presented"]
        assert recovered[0].data["result"] == {"key": f"{run_id}:work:1"}
        assert marker.read_text(encoding="utf-8").splitlines() == [
            f"{run_id}:work:1",
            f"{run_id}:work:1",
        ]
        assert (await svc.store.verify()).ok
