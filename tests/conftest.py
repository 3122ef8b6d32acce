"""Fixtures: a fresh SQLite ledger per test, a copy of the shipped runbooks, and an in-process CLI."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.ledger.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "runbooks"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "ledger.db")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def runbooks_dir(tmp_path: Path) -> Path:
    target = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, target)
    return target


@dataclass
class CliResult:
    code: int
    out: str
    err: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(
    tmp_path: Path,
    runbooks_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    """Run `runbook-bot ARGS` in-process against this test's database and runbooks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNBOOK_DB_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setenv("RUNBOOKS_DIR", str(runbooks_dir))
    monkeypatch.setenv("RUNBOOK_AUTHOR", "tester")
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "RUNBOOK_LEDGER_SIGNING_KEY",
    ):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> CliResult:
        out = io.StringIO()
        capsys.readouterr()
        code = main(list(args), out=out)
        return CliResult(code, out.getvalue(), capsys.readouterr().err)

    return run
