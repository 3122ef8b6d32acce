"""Settings come from the environment and from .env; secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, Synchronous
from bot.errors import UserError
from bot.ledger.open import sqlite_path


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in (
        "RUNBOOK_DB_URL",
        "RUNBOOKS_DIR",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "RUNBOOK_SQLITE_SYNCHRONOUS",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.runbook_db_url == "sqlite:///runbook-bot.db"
    assert settings.runbooks_dir == Path("runbooks")
    assert settings.runbook_sqlite_synchronous is Synchronous.FULL
    assert not settings.has_slack_credentials


def test_dotenv_is_honoured_and_secrets_are_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("RUNBOOKS_DIR", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "RUNBOOKS_DIR=/srv/runbooks\nSLACK_BOT_TOKEN=xoxb-secret-value\nSLACK_SIGNING_SECRET=abc\n",
        encoding="utf-8",
    )
    settings = Settings()
    assert settings.runbooks_dir == Path("/srv/runbooks")
    assert settings.has_slack_credentials
    assert "xoxb-secret-value" not in repr(settings) and "xoxb-secret-value" not in str(
        settings.model_dump()
    )
    assert (
        settings.slack_bot_token is not None
        and settings.slack_bot_token.get_secret_value() == "xoxb-secret-value"
    )


def test_environment_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RUNBOOKS_DIR=/from/dotenv\n", encoding="utf-8")
    monkeypatch.setenv("RUNBOOKS_DIR", "/from/env")
    assert Settings().runbooks_dir == Path("/from/env")


def test_invalid_synchronous_setting_is_a_clear_cli_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNBOOK_SQLITE_SYNCHRONOUS", "SOMETIMES")
    assert main(["ledger", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: The settings are invalid: RUNBOOK_SQLITE_SYNCHRONOUS:")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///runbook-bot.db", Path("runbook-bot.db")),
        ("sqlite:////var/lib/bot.db", Path("/var/lib/bot.db")),
        ("plain.db", Path("plain.db")),
    ],
)
def test_sqlite_urls(url: str, path: Path) -> None:
    assert sqlite_path(url) == path


def test_unsupported_database_urls_say_what_to_use() -> None:
    with pytest.raises(UserError, match=r"use sqlite:///path/to/file\.db"):
        sqlite_path("mysql://db/x")
