"""The Slack tests' bot: the real app in this process behind a real HTTP site, talking to the
emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.slack.harness import Bot, running_bot


@pytest.fixture
async def bot(
    tmp_path: Path, runbooks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    async with running_bot(tmp_path, runbooks_dir) as running:
        yield running
