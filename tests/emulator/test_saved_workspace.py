"""The console's workspace file survives shutdown while a background save is still writing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.emulator import server
from bot.emulator.workspace import Workspace, write_whole


async def test_shutdown_waits_for_a_save_in_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "console.json"
    started, release = threading.Event(), threading.Event()

    def slow_write(path: Path, text: str) -> None:
        started.set()
        release.wait(timeout=10)
        write_whole(path, text)

    monkeypatch.setattr(server, "write_whole", slow_write)
    async with server.running_emulator(Workspace.demo(), state_file=state) as emulator:
        await asyncio.sleep(0.05)  # the saver is waiting for a change
        emulator.workspace.post("C0INCIDENT", "U0SRE0001", "first")
        assert await asyncio.to_thread(started.wait, 10)
        emulator.workspace.post("C0INCIDENT", "U0SRE0001", "last words")
        threading.Timer(0.2, release.set).start()
    await asyncio.to_thread(release.wait, 10)
    await asyncio.sleep(0.3)  # time for a stray background write to land, were there one
    # The shutdown save came after the background one, so the file holds the newest state.
    saved = Workspace.from_json(state.read_text(encoding="utf-8"))
    assert [m.text for m in saved.messages][-1] == "last words"
    assert not list(tmp_path.glob("*.partial"))
