"""`runbook-bot serve` without Slack credentials: a real process serving the local console."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from asyncio.subprocess import DEVNULL, PIPE
from pathlib import Path

import aiohttp

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_prints_its_address_and_shows_the_catalog(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(RUNBOOKS_DIR=str(runbooks_dir), RUNBOOK_DB_URL=f"sqlite:///{tmp_path / 'c.db'}")
    publish = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "publish", env=env, cwd=tmp_path, stdout=DEVNULL
    )
    assert await publish.wait() == 0
    (runbooks_dir / "restart-service.yml").write_text(
        (REPO / "runbooks" / "restart-service.yml")
        .read_text(encoding="utf-8")
        .replace("15m", "5m"),
        encoding="utf-8",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stdout=PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode()
        assert line.startswith(f"runbook-bot console: http://127.0.0.1:{port}/")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
                assert health.status == 200 and await health.json() == {"ok": True}
            async with session.get(f"http://127.0.0.1:{port}/") as page:
                html = await page.text()
        assert page.status == 200
        assert "ledger intact: 6 entries" in html
        assert "restart-service@1 sha256:" in html and "changed since publishing" in html
        assert html.count('class="ok">published') == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
