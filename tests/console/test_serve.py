"""`runbook-bot serve` without Slack credentials: a real process serving the console, with the
bot wired to the emulator, driven over HTTP the way the page drives it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.emulator.processes import free_port
from tests.conftest import REPO

SRE, IC = "U0SRE0001", "U0IC00001"


def console_env(tmp_path: Path, runbooks_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        RUNBOOKS_DIR=str(runbooks_dir),
        RUNBOOK_DB_URL=f"sqlite:///{tmp_path / 'c.db'}",
        RUNBOOK_DEMO_DIR=str(tmp_path / "demo"),
    )
    return env


@asynccontextmanager
async def serving(env: dict[str, str], cwd: Path, port: int) -> AsyncIterator[list[str]]:
    """`serve` as a subprocess; yields the lines it printed up to its address."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--port", str(port), env=env, cwd=cwd, stdout=PIPE
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not lines or not lines[-1].startswith("runbook-bot console:"):
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode()
            assert line, f"serve exited before printing its address: {lines}"
            lines.append(line.strip())
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0


async def state(session: aiohttp.ClientSession, base: str, user: str) -> dict[str, Any]:
    async with session.get(f"{base}/console/api/state", params={"user": user}) as response:
        assert response.status == 200
        return dict(await response.json())


async def call(session: aiohttp.ClientSession, base: str, path: str, **body: Any) -> Any:
    async with session.post(f"{base}/console/api/{path}", json=body) as response:
        return response.status, await response.json()


async def test_serve_publishes_first_versions_and_shows_the_catalog(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    port = free_port()
    env = console_env(tmp_path, runbooks_dir)
    only = tmp_path / "only-restart-service"
    shutil.copytree(runbooks_dir, only)
    for other in only.glob("*.yml"):
        if other.name not in ("restart-service.yml", "roles.yml"):
            other.unlink()
    publish = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "publish",
        env={**env, "RUNBOOKS_DIR": str(only)},
        cwd=tmp_path,
        stdout=DEVNULL,
    )
    assert await publish.wait() == 0
    (runbooks_dir / "restart-service.yml").write_text(
        (REPO / "runbooks" / "restart-service.yml")
        .read_text(encoding="utf-8")
        .replace("15m", "5m"),
        encoding="utf-8",
    )
    async with serving(env, tmp_path, port) as lines:
        assert lines[-1] == f"runbook-bot console: http://127.0.0.1:{port}/  (Ctrl-C to stop)"
        # Runbooks never published get their first version; the edited one is left for review.
        published = sorted(line.split()[1] for line in lines if line.startswith("published "))
        assert published == [
            "customer-comms-outage@1",
            "database-failover@1",
            "disk-full-triage@1",
            "security-incident-intake@1",
        ]
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as health:
                assert health.status == 200 and await health.json() == {"ok": True}
            async with session.get(f"{base}/catalog") as page:
                html = await page.text()
            async with session.get(f"{base}/") as console:
                assert console.status == 200 and "/static/console.js" in await console.text()
    assert "ledger intact: 6 entries" in html
    assert "restart-service@1 sha256:" in html and "changed since publishing" in html
    assert html.count('class="ok">published') == 4


async def test_a_run_through_the_console_survives_a_restart(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    port = free_port()
    env = console_env(tmp_path, runbooks_dir)
    base = f"http://127.0.0.1:{port}"
    async with serving(env, tmp_path, port), aiohttp.ClientSession() as session:
        status, answer = await call(
            session,
            base,
            "say",
            user=SRE,
            channel="C0INCIDENT",
            text="/runbook start customer-comms-outage product=Checkout",
        )
        assert status == 200 and answer["body"]["text"].startswith("Started run `run-")
        for _ in range(100):
            seen = await state(session, base, SRE)
            cards = [m for m in seen["messages"] if "runbook.step.done" in json.dumps(m["blocks"])]
            if cards:
                break
            await asyncio.sleep(0.05)
        [card] = cards
        status, answer = await call(
            session,
            base,
            "click",
            user=SRE,
            channel="C0INCIDENT",
            ts=card["ts"],
            action_id="runbook.step.done",
        )
        assert (status, answer["status"]) == (200, 200)
        # What the outsider sees of the incident channel: the same thread, not the SRE's ephemerals.
        outsider = await state(session, base, "U0OUTSIDE")
        assert not any(m["ephemeral_for"] for m in outsider["messages"])
        unknown = await call(
            session, base, "click", user=SRE, channel="C0INCIDENT", ts="1.2", action_id="x"
        )
        assert unknown[0] == 400 and "no message" in unknown[1]["error"]
        for _ in range(100):
            done = await state(session, base, SRE)
            if (
                sum("step.done" in m["text"] or "marked" in m["text"] for m in done["messages"])
                or len([m for m in done["messages"] if m["thread_ts"]]) >= 4
            ):
                break
            await asyncio.sleep(0.05)
        thread_before = [m["text"] for m in done["messages"] if m["thread_ts"]]
    async with serving(env, tmp_path, port), aiohttp.ClientSession() as session:
        after = await state(session, base, SRE)
        # The workspace was kept beside the ledger: the thread is still there, not posted again.
        assert [m["text"] for m in after["messages"] if m["thread_ts"]][
            : len(thread_before)
        ] == thread_before
        assert len(thread_before) >= 4
